using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace VaultGrains.Silo;

/// <summary>
/// How fast the cluster declares a silent silo dead (section <c>Orleans:Membership</c>). A silo is
/// suspected after <see cref="NumMissedProbesLimit"/> probes went unanswered; Orleans starts
/// probing every <see cref="ProbeTimeout"/> and adapts the period to observed response times
/// (between half and four times it), and ignores failed probes of a silo that sent anything
/// within 4 x ProbeTimeout x NumMissedProbesLimit. With the defaults a killed silo's grains are back
/// in about 2 s (with Orleans' own defaults: 11-15 s) and a frozen one (a long GC pause, a starved CPU)
/// is tolerated for about 12 s (Orleans: about 60 s); frozen longer, it is declared dead and
/// stops itself.
/// </summary>
public sealed class MembershipSettings
{
    public const string Section = "Orleans:Membership";

    /// <summary>The initial probe period and timeout (Orleans default 5 s).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Missed probes before a silo votes its peer suspect (Orleans default 3).</summary>
    public int NumMissedProbesLimit { get; set; } = 3;

    /// <summary>Votes that declare a silo dead; Orleans needs fewer when fewer silos are alive (default 2).</summary>
    public int NumVotesForDeathDeclaration { get; set; } = 2;

    /// <summary>How long a suspicion vote counts (Orleans default 2 min).</summary>
    public TimeSpan DeathVoteExpirationTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Fallback re-read of the membership table; changes normally arrive by gossip at once (default 60 s).</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Heartbeat row update; a silo that missed three is treated as stale (default 30 s).</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound of the detection time: the slowest adaptive probe period times the missed-probe limit.</summary>
    public TimeSpan WorstCaseDetection => ProbeTimeout * 4 * NumMissedProbesLimit;

    public void ApplyTo(ClusterMembershipOptions options)
    {
        options.ProbeTimeout = ProbeTimeout;
        options.MinProbeTimeout = ProbeTimeout / 2;
        options.MaxProbeTimeout = ProbeTimeout * 4;
        options.NumMissedProbesLimit = NumMissedProbesLimit;
        options.NumVotesForDeathDeclaration = NumVotesForDeathDeclaration;
        options.DeathVoteExpirationTimeout = DeathVoteExpirationTimeout;
        options.TableRefreshTimeout = TableRefreshTimeout;
        options.IAmAliveTablePublishTimeout = IAmAliveTablePublishTimeout;
    }
}

internal sealed class MembershipSettingsValidator : IValidateOptions<MembershipSettings>
{
    public ValidateOptionsResult Validate(string? name, MembershipSettings options)
    {
        var failures = new List<string>();
        if (options.ProbeTimeout < TimeSpan.FromMilliseconds(200) || options.ProbeTimeout > TimeSpan.FromMinutes(1))
        {
            failures.Add("Orleans:Membership:ProbeTimeout must be between 00:00:00.2 and 00:01:00.");
        }

        if (options.NumMissedProbesLimit is < 1 or > 10)
        {
            failures.Add("Orleans:Membership:NumMissedProbesLimit must be between 1 and 10.");
        }

        if (options.NumVotesForDeathDeclaration is < 1 or > 10)
        {
            failures.Add("Orleans:Membership:NumVotesForDeathDeclaration must be between 1 and 10 (silos probe at most 10 peers).");
        }

        // Votes must live long enough for a second silo to reach the same verdict.
        if (options.DeathVoteExpirationTimeout <= options.WorstCaseDetection)
        {
            failures.Add($"Orleans:Membership:DeathVoteExpirationTimeout must be longer than 4 x ProbeTimeout x NumMissedProbesLimit ({options.WorstCaseDetection}).");
        }

        if (options.TableRefreshTimeout < TimeSpan.FromSeconds(1))
        {
            failures.Add("Orleans:Membership:TableRefreshTimeout must be at least 00:00:01.");
        }

        if (options.IAmAliveTablePublishTimeout < TimeSpan.FromSeconds(1))
        {
            failures.Add("Orleans:Membership:IAmAliveTablePublishTimeout must be at least 00:00:01.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
