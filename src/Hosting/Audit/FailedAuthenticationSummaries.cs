using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting.Audit;

/// <summary>The credential a failed authentication presented (a summary's <c>credential</c>).</summary>
public enum FailedCredential
{
    /// <summary>A public API key (<c>Authorization: Bearer nr_…</c>); status 401.</summary>
    ApiKey,

    /// <summary>The operator's admin token; status 401.</summary>
    Admin,

    /// <summary>A runtime's proxy token (<c>Proxy-Authorization</c>); status 407.</summary>
    RuntimeToken,
}

/// <summary>Why an authentication failed (a summary's <c>reasons</c>, listed in this order).</summary>
public enum FailureReason
{
    /// <summary>No credential at all.</summary>
    Missing,

    /// <summary>Not in the credential's format; never sent to the cluster.</summary>
    Malformed,

    /// <summary>Well formed, but there is no such key or runtime.</summary>
    Unknown,

    /// <summary>Not the admin token; or a token that is not its runtime's current one.</summary>
    WrongToken,

    /// <summary>An API key that was revoked.</summary>
    Revoked,

    /// <summary>A credential of a switched-off organization.</summary>
    OrganizationDisabled,

    /// <summary>Refused with 429 before any lookup: the address was over its failed-authentication limit.</summary>
    NotLookedUp,
}

public static class FailedAuthenticationNames
{
    public static string Name(this FailedCredential credential) => credential switch
    {
        FailedCredential.ApiKey => "api_key",
        FailedCredential.Admin => "admin",
        _ => "runtime_token",
    };

    public static string Name(this FailureReason reason) => reason switch
    {
        FailureReason.Missing => "missing",
        FailureReason.Malformed => "malformed",
        FailureReason.Unknown => "unknown",
        FailureReason.WrongToken => "wrong_token",
        FailureReason.Revoked => "revoked",
        FailureReason.OrganizationDisabled => "organization_disabled",
        _ => "not_looked_up",
    };
}

/// <summary>
/// Failed authentications of this process until the next summary (<see cref="FailedAuthenticationSummaryWriter"/>),
/// counted per client address, credential, reason and, when the credential could be attributed, its
/// organization and key or runtime id. Counting is a few dictionary operations under a lock that
/// guards nothing else, so a refused request pays next to nothing and never waits on the cluster.
/// </summary>
/// <remarks>
/// Memory is bounded per interval: at most <see cref="FailedAuthenticationAuditOptions.FailedAuthenticationMaxAddresses"/>
/// addresses, each with at most <see cref="MaxAttributedPerAddress"/> attributed summaries (further
/// ones are counted in the address's unattributed summary); failures from addresses beyond the limit
/// are folded into one summary per credential under the address <see cref="OtherAddresses"/>, which
/// also counts how many addresses it holds.
/// </remarks>
public sealed class FailedAuthenticationSummaries
{
    /// <summary>The actor id of the summary that holds the addresses beyond the limit.</summary>
    public const string OtherAddresses = "other";

    internal const int MaxAttributedPerAddress = 8;

    // How many addresses "other" tells apart for its count; beyond, the count stops growing.
    internal const int MaxOtherAddressesCounted = 10_000;

    private static readonly int ReasonCount = Enum.GetValues<FailureReason>().Length;

    private readonly Lock gate = new();
    private readonly TimeProvider clock;
    private readonly int maxAddresses;
    private Window window;

    public FailedAuthenticationSummaries(IOptions<FailedAuthenticationAuditOptions> options, TimeProvider clock)
    {
        this.clock = clock;
        maxAddresses = options.Value.FailedAuthenticationMaxAddresses;
        window = new Window(Now(), maxAddresses, MaxOtherAddressesCounted);
    }

    /// <summary>
    /// Counts one failure. <paramref name="organizationId"/> and <paramref name="resourceId"/> (the key
    /// id) only when the credential is known to be that organization's. Never the credential itself.
    /// </summary>
    public void Record(string address, FailedCredential credential, FailureReason reason, bool rateLimited = false, string? organizationId = null, string? resourceId = null)
    {
        var now = Now();
        lock (gate)
        {
            window.Count(new SummaryKey(address, credential, organizationId, resourceId), reason, rateLimited, now);
        }
    }

    /// <summary>
    /// Counts a token the proxy refused for a well-formed runtime id. Whether that runtime exists, and
    /// whose it is, is asked when the summary is written, off the request path.
    /// </summary>
    public void RecordRefusedRuntimeToken(string address, string runtimeId) =>
        Record(address, FailedCredential.RuntimeToken, FailureReason.Unknown, resourceId: runtimeId);

    /// <summary>Takes everything counted since the last call, and starts a new window.</summary>
    internal IReadOnlyList<FailedAuthenticationSummary> Drain()
    {
        Window taken;
        lock (gate)
        {
            taken = window;
            window = new Window(Now(), maxAddresses, MaxOtherAddressesCounted);
        }

        // The taken window is no longer reachable from Record: read without the lock.
        return taken.Tallies.Select(pair => pair.Value.ToSummary(pair.Key)).ToList();
    }

    /// <summary>Puts back summaries that could not be written, so the next interval writes them with its own.</summary>
    internal void Restore(IEnumerable<FailedAuthenticationSummary> summaries)
    {
        lock (gate)
        {
            foreach (var summary in summaries)
            {
                window.Merge(summary);
            }
        }
    }

    /// <summary>Summaries without an organization but with a runtime id wait for the runtime's owner to be looked up.</summary>
    internal static bool AwaitsAttribution(SummaryKey key) =>
        key.Credential == FailedCredential.RuntimeToken && key.OrganizationId is null && key.ResourceId is not null;

    private DateTime Now() => clock.GetUtcNow().UtcDateTime;

    /// <summary>One interval's tallies. Only touched under the lock while it is the current one.</summary>
    private sealed class Window(DateTime start, int maxAddresses, int maxOtherAddressesCounted)
    {
        // The addresses held apart, with how many attributed tallies each has.
        private readonly Dictionary<string, int> addresses = new(StringComparer.Ordinal);
        private readonly HashSet<(FailedCredential, string)> otherAddresses = [];

        public Dictionary<SummaryKey, Tally> Tallies { get; } = [];

        public void Count(SummaryKey key, FailureReason reason, bool rateLimited, DateTime now)
        {
            var awaitedAttribution = AwaitsAttribution(key);
            var tally = TallyFor(ref key);
            if (awaitedAttribution && !AwaitsAttribution(key))
            {
                // Its runtime id was folded away: whose runtime it was will never be looked up.
                reason = FailureReason.NotLookedUp;
            }

            tally.Reasons[(int)reason]++;
            tally.RateLimited += rateLimited ? 1 : 0;
            tally.First = now < tally.First ? now : tally.First;
            tally.Last = now > tally.Last ? now : tally.Last;
        }

        public void Merge(FailedAuthenticationSummary summary)
        {
            var key = summary.Key;
            var tally = TallyFor(ref key);
            for (var i = 0; i < tally.Reasons.Length; i++)
            {
                tally.Reasons[i] += summary.Reasons[i];
            }

            tally.RateLimited += summary.RateLimited;
            tally.First = summary.First < tally.First ? summary.First : tally.First;
            tally.Last = summary.Last > tally.Last ? summary.Last : tally.Last;
            tally.WindowStart = summary.WindowStart < tally.WindowStart ? summary.WindowStart : tally.WindowStart;
            tally.Addresses += summary.Addresses;
        }

        // The tally that counts for the key; the key is changed when it had to be folded into a coarser one.
        private Tally TallyFor(ref SummaryKey key)
        {
            if (key.Address == OtherAddresses)
            {
                return Get(key);
            }

            if (!addresses.TryGetValue(key.Address, out var attributed))
            {
                if (addresses.Count >= maxAddresses)
                {
                    var address = key.Address;
                    key = new SummaryKey(OtherAddresses, key.Credential, null, null);
                    var other = Get(key);
                    if (otherAddresses.Count < maxOtherAddressesCounted && otherAddresses.Add((key.Credential, address)))
                    {
                        other.Addresses++;
                    }

                    return other;
                }

                addresses[key.Address] = attributed;
            }

            if (Tallies.TryGetValue(key, out var tally))
            {
                return tally;
            }

            if (key.OrganizationId is not null || key.ResourceId is not null)
            {
                if (attributed >= MaxAttributedPerAddress)
                {
                    key = key with { OrganizationId = null, ResourceId = null };
                    return Get(key);
                }

                addresses[key.Address] = attributed + 1;
            }

            return Get(key);
        }

        private Tally Get(SummaryKey key)
        {
            if (!Tallies.TryGetValue(key, out var tally))
            {
                tally = new Tally(start);
                Tallies[key] = tally;
            }

            return tally;
        }
    }

    private sealed class Tally(DateTime windowStart)
    {
        public long[] Reasons { get; } = new long[ReasonCount];

        public long RateLimited { get; set; }

        public DateTime First { get; set; } = DateTime.MaxValue;

        public DateTime Last { get; set; } = DateTime.MinValue;

        public DateTime WindowStart { get; set; } = windowStart;

        public int Addresses { get; set; }

        public FailedAuthenticationSummary ToSummary(SummaryKey key) => new(key, Reasons, RateLimited, First, Last, WindowStart, Addresses);
    }
}

/// <summary>What one summary is about: an address (or <c>other</c>), a credential, and the organization and key or runtime id when attributed.</summary>
internal readonly record struct SummaryKey(string Address, FailedCredential Credential, string? OrganizationId, string? ResourceId);

/// <summary>The failures of one <see cref="SummaryKey"/> over one window: counts per reason (indexed by <see cref="FailureReason"/>).</summary>
internal sealed record FailedAuthenticationSummary(
    SummaryKey Key,
    long[] Reasons,
    long RateLimited,
    DateTime First,
    DateTime Last,
    DateTime WindowStart,
    int Addresses)
{
    public long Failures => Reasons.Sum();
}
