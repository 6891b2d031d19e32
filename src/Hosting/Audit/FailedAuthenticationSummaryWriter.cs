using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using VaultGrains.Domain;

namespace VaultGrains.Hosting.Audit;

/// <summary>
/// Writes this process's <see cref="FailedAuthenticationSummaries"/> to the audit trail every
/// <c>Audit:FailedAuthenticationSummaryInterval</c>, and once more at shutdown: one <c>auth.failed</c>
/// event per address, organization, credential (and key or runtime id), in that organization's trail,
/// or in the system trail (<see cref="SystemAuditTrail"/>) when none can be named. Nothing is written
/// for an interval without failures. Summaries a trail refuses are put back and written with the next interval's.
/// </summary>
public sealed partial class FailedAuthenticationSummaryWriter(
    FailedAuthenticationSummaries summaries,
    IGrainFactory grains,
    IOptions<FailedAuthenticationAuditOptions> options,
    TimeProvider clock,
    ILogger<FailedAuthenticationSummaryWriter> logger) : BackgroundService
{
    public const string Action = "auth.failed";
    private const int LookupConcurrency = 8;
    private readonly SemaphoreSlim flushing = new(1, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(options.Value.FailedAuthenticationSummaryInterval, clock, stoppingToken);
                await FlushAsync();
            }
        }
        catch (OperationCanceledException)
        {
        }

        // What the last, unfinished interval counted (the cluster connection stops after this service).
        await FlushAsync();
    }

    public override void Dispose()
    {
        flushing.Dispose();
        base.Dispose();
    }

    /// <summary>Writes what has been counted until now: on every interval, at shutdown, and when a test asks.</summary>
    internal async Task FlushAsync()
    {
        await flushing.WaitAsync();
        try
        {
            var drained = summaries.Drain();
            if (drained.Count == 0)
            {
                return;
            }

            var attributed = Merged(await AttributeRuntimeTokensAsync(drained));
            var now = clock.GetUtcNow().UtcDateTime;
            await Task.WhenAll(attributed
                .GroupBy(summary => summary.Key.OrganizationId ?? SystemAuditTrail.Key, StringComparer.Ordinal)
                .Select(trail => WriteAsync(trail.Key, trail.ToList(), now)));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A background service that throws stops the host; a lost summary must not.
            LogFlushFailed(logger, e.GetType().Name);
        }
        finally
        {
            flushing.Release();
        }
    }

    private async Task WriteAsync(string trail, List<FailedAuthenticationSummary> written, DateTime now)
    {
        string error;
        try
        {
            var outcome = await grains.ReferenceTo<IAuditTrailGrain>(trail).Append(written.Select(summary => ToEntry(summary, now)).ToList());
            if (outcome == VaultError.None)
            {
                return;
            }

            error = outcome.ToString();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error = e.GetType().Name;
        }

        // A failed append may still have landed (its answer lost): then the failures are counted twice, never dropped.
        summaries.Restore(written);
        LogNotWritten(logger, written.Count, trail, error);
    }

    /// <summary>
    /// Looks up whose runtime each refused runtime id names (at most as many as addresses are held
    /// apart): a known runtime's failures go to its organization's trail as <c>wrong_token</c> (or
    /// <c>organization_disabled</c>), an unknown id's to the system trail as <c>unknown</c>, without the id.
    /// </summary>
    private async Task<IReadOnlyList<FailedAuthenticationSummary>> AttributeRuntimeTokensAsync(IReadOnlyList<FailedAuthenticationSummary> drained)
    {
        var runtimeIds = drained.Where(s => FailedAuthenticationSummaries.AwaitsAttribution(s.Key)).Select(s => s.Key.ResourceId!)
            .Distinct(StringComparer.Ordinal).Take(options.Value.FailedAuthenticationMaxAddresses).ToList();
        if (runtimeIds.Count == 0)
        {
            return drained;
        }

        var owners = new ConcurrentDictionary<string, RuntimeOwner?>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(runtimeIds, new ParallelOptions { MaxDegreeOfParallelism = LookupConcurrency }, async (runtimeId, _) =>
        {
            try
            {
                owners[runtimeId] = await grains.ReferenceTo<IRuntimeGrain>(runtimeId).Owner();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogLookupFailed(logger, runtimeId, e.GetType().Name);
            }
        });

        return drained.Select(summary =>
        {
            if (!FailedAuthenticationSummaries.AwaitsAttribution(summary.Key))
            {
                return summary;
            }

            if (!owners.TryGetValue(summary.Key.ResourceId!, out var owner))
            {
                return summary with { Key = summary.Key with { ResourceId = null }, Reasons = Relabeled(summary.Reasons, FailureReason.NotLookedUp) };
            }

            return owner is null
                ? summary with { Key = summary.Key with { ResourceId = null } }
                : summary with
                {
                    Key = summary.Key with { OrganizationId = owner.OrganizationId },
                    Reasons = Relabeled(summary.Reasons, owner.OrganizationDisabled ? FailureReason.OrganizationDisabled : FailureReason.WrongToken),
                };
        }).ToList();
    }

    // A refused runtime token is counted as unknown until its runtime has been looked up.
    private static long[] Relabeled(long[] reasons, FailureReason to)
    {
        var relabeled = (long[])reasons.Clone();
        relabeled[(int)to] += relabeled[(int)FailureReason.Unknown];
        relabeled[(int)FailureReason.Unknown] = 0;
        return relabeled;
    }

    // Attribution can make two summaries one (two unknown runtime ids from one address).
    private static List<FailedAuthenticationSummary> Merged(IEnumerable<FailedAuthenticationSummary> summaries) =>
        summaries.GroupBy(s => s.Key).Select(same => same.Aggregate((a, b) => a with
        {
            Reasons = a.Reasons.Zip(b.Reasons, (x, y) => x + y).ToArray(),
            RateLimited = a.RateLimited + b.RateLimited,
            First = a.First < b.First ? a.First : b.First,
            Last = a.Last > b.Last ? a.Last : b.Last,
            WindowStart = a.WindowStart < b.WindowStart ? a.WindowStart : b.WindowStart,
            Addresses = a.Addresses + b.Addresses,
        })).ToList();

    internal static AuditEntry ToEntry(FailedAuthenticationSummary summary, DateTime now)
    {
        var detail = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["credential"] = summary.Key.Credential.Name(),
            ["failures"] = Number(summary.Failures),
            ["rate_limited"] = Number(summary.RateLimited),
            ["first"] = Timestamps.Format(summary.First),
            ["last"] = Timestamps.Format(summary.Last),
            ["reasons"] = string.Join(',', Enum.GetValues<FailureReason>()
                .Where(reason => summary.Reasons[(int)reason] > 0)
                .Select(reason => $"{reason.Name()}:{Number(summary.Reasons[(int)reason])}")),
            ["window_seconds"] = Number(Math.Max(1, (long)Math.Round((now - summary.WindowStart).TotalSeconds))),
        };
        if (summary.Key.Address == FailedAuthenticationSummaries.OtherAddresses)
        {
            detail["addresses"] = Number(summary.Addresses);
        }

        var resource = summary.Key.Credential switch
        {
            FailedCredential.ApiKey => new AuditResource(KeyId: summary.Key.ResourceId),
            FailedCredential.RuntimeToken => new AuditResource(RuntimeId: summary.Key.ResourceId),
            _ => new AuditResource(),
        };
        var status = summary.Key.Credential == FailedCredential.RuntimeToken ? 407 : 401;
        return new AuditEntry(new AuditActor(AuditActor.Address, summary.Key.Address), Action, AuditEntry.Denied, status, resource, detail);
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} failed-authentication summaries for the audit trail {Trail} not written ({Error}); kept for the next interval")]
    private static partial void LogNotWritten(ILogger logger, int count, string trail, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Whose runtime {RuntimeId} is could not be looked up ({Error}); its refused tokens are summarized without it")]
    private static partial void LogLookupFailed(ILogger logger, string runtimeId, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Failed-authentication summaries could not be written: {Error}")]
    private static partial void LogFlushFailed(ILogger logger, string error);
}
