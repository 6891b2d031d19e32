using System.Diagnostics;
using System.Text.RegularExpressions;
using OpenTelemetry;

namespace VaultGrains.Hosting.Telemetry;

/// <summary>
/// Runs before any exporter and takes ids out of spans: a span attribute must never hold an id that
/// grows without bound (vault, secret, organization, runtime, API key ids, key hashes) or a value.
/// Orleans tags its spans with grain and activation ids, ASP.NET Core with the request path, the
/// Azure SDK with the blob or entity URL (which names the grain): those attributes are dropped or
/// have every id replaced by <c>{id}</c>. Values never reach a span in the first place (request and
/// response bodies and headers are not recorded), and the canary test checks both.
/// </summary>
public sealed partial class RedactingActivityProcessor : BaseProcessor<Activity>
{
    public const string Redacted = "{id}";

    // Attributes whose whole value is an id: dropped rather than rewritten.
    private static readonly HashSet<string> Dropped = new(StringComparer.Ordinal)
    {
        "orleans.grain.id", "orleans.activation.id", "orleans.rpc.target_id", "orleans.rpc.source_id",
        "orleans.directory.registered.address", "orleans.directory.forwarding.address",
        "orleans.directory.previousRegistration.present", "orleans.rehydrate.previousRegistration",
        "az.client_request_id", "requestId", "serviceRequestId",
    };

    public override void OnEnd(Activity activity)
    {
        List<KeyValuePair<string, object?>>? changes = null;
        foreach (var tag in activity.TagObjects)
        {
            if (Dropped.Contains(tag.Key))
            {
                (changes ??= []).Add(new(tag.Key, null));
            }
            else if (tag.Value is string text && Scrub(text) is var scrubbed && !ReferenceEquals(scrubbed, text))
            {
                (changes ??= []).Add(new(tag.Key, scrubbed));
            }
        }

        if (changes is not null)
        {
            foreach (var (key, value) in changes)
            {
                activity.SetTag(key, value);
            }
        }

        if (Scrub(activity.DisplayName) is var name && !ReferenceEquals(name, activity.DisplayName))
        {
            activity.DisplayName = name;
        }

        if (activity.StatusDescription is { } description && Scrub(description) is var status && !ReferenceEquals(status, description))
        {
            activity.SetStatus(activity.Status, status);
        }
    }

    /// <summary>The text with every resource id, grain key and long token replaced; the same instance when there was none.</summary>
    public static string Scrub(string text) =>
        text.Length >= 20 && Identifier().IsMatch(text) ? Identifier().Replace(text, Redacted) : text;

    // Resource ids (prefix + ULID), and any run of 20+ id characters that holds a digit: key
    // hashes, bare ULIDs, tokens. Names made of words (routes, span and type names, hosts) do not.
    [GeneratedRegex("(?:org|vlt|sec|key|rtm)_[0-9A-Za-z]{26}|(?<![0-9A-Za-z_=+-])(?=[0-9A-Za-z_=+-]{20,})(?=[A-Za-z_=+-]*[0-9])[0-9A-Za-z_=+-]+", RegexOptions.CultureInvariant)]
    private static partial Regex Identifier();
}
