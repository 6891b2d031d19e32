using System.Diagnostics.Metrics;

namespace VaultGrains.Api;

/// <summary>The API's own instruments (meter <c>VaultGrains.Api</c>). Labels are fixed words, never a key or an id.</summary>
internal static class ApiMetrics
{
    public const string MeterName = "VaultGrains.Api";

    public static readonly Meter Meter = new(MeterName);

    /// <summary>Requests refused for a missing or wrong credential, by <c>scheme</c>: <c>api_key</c>, <c>admin</c>, <c>dashboard</c>.</summary>
    public static readonly Counter<long> AuthenticationFailures = Meter.CreateCounter<long>("vaultgrains.api.authentication_failures", "{request}",
        "Requests answered 401 for a missing or invalid API key or admin token, by scheme.");

    /// <summary>Requests answered 429 (Too Many Requests), whichever layer answered so.</summary>
    public static readonly Counter<long> Throttled = Meter.CreateCounter<long>("vaultgrains.api.throttled", "{request}",
        "Requests answered 429 Too Many Requests.");

    public static void AuthenticationFailed(string scheme) => AuthenticationFailures.Add(1, new KeyValuePair<string, object?>("scheme", scheme));
}
