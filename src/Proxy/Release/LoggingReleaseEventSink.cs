using System.Diagnostics.Metrics;

namespace VaultGrains.Proxy.Release;

/// <summary>
/// Records each release decision as one structured log line and one count on
/// <c>vaultgrains.proxy.releases</c>. The line names the runtime, vault, secret and host; the
/// counter is tagged only with bounded labels (outcome, reason, location), never with ids.
/// </summary>
public sealed partial class LoggingReleaseEventSink(ILogger<LoggingReleaseEventSink> logger) : IReleaseEventSink
{
    /// <summary>The meter the proxy's instruments live on.</summary>
    public const string MeterName = "VaultGrains.Proxy";

    /// <summary>The counter of release decisions.</summary>
    public const string ReleasesCounterName = "vaultgrains.proxy.releases";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Releases = Meter.CreateCounter<long>(ReleasesCounterName, unit: "{release}", description: "Secret release decisions in the proxy");

    private static readonly HashSet<string> KnownOutcomes = ["released", "refused"];
    private static readonly HashSet<string> KnownLocations = ["path", "query", "header", "authorization"];
    private static readonly HashSet<string> KnownReasons =
        ["domain_not_allowed", "port_not_allowed", "ip_literal", "plain_http", "method_not_allowed", "invalid_header_value"];

    /// <inheritdoc />
    public void Record(ReleaseEvent releaseEvent)
    {
        ArgumentNullException.ThrowIfNull(releaseEvent);
        LogRelease(
            releaseEvent.Outcome,
            releaseEvent.Reason ?? "none",
            releaseEvent.RuntimeId,
            releaseEvent.VaultId,
            releaseEvent.SecretId,
            releaseEvent.EnvKey,
            releaseEvent.Method,
            releaseEvent.Host,
            releaseEvent.Path,
            releaseEvent.Location);

        // Anything outside the known vocabulary is counted as "other", so a bug elsewhere cannot
        // turn a label into an unbounded (or identifying) value.
        Releases.Add(
            1,
            new KeyValuePair<string, object?>("outcome", Bounded(releaseEvent.Outcome, KnownOutcomes)),
            new KeyValuePair<string, object?>("reason", releaseEvent.Reason is null ? "none" : Bounded(releaseEvent.Reason, KnownReasons)),
            new KeyValuePair<string, object?>("location", Bounded(releaseEvent.Location, KnownLocations)));
    }

    private static string Bounded(string value, HashSet<string> known) => known.Contains(value) ? value : "other";

    [LoggerMessage(
        EventId = 4100,
        EventName = "SecretRelease",
        Level = LogLevel.Information,
        Message = "Secret release {Outcome} (reason {Reason}): runtime {RuntimeId} vault {VaultId} secret {SecretId} env_key {EnvKey} to {Method} {Host}{Path} in {Location}")]
    private partial void LogRelease(string outcome, string reason, string runtimeId, string vaultId, string secretId, string envKey, string method, string host, string path, string location);
}
