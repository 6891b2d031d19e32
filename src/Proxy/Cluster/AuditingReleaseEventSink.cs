using System.Threading.Channels;
using VaultGrains.Proxy.Release;

namespace VaultGrains.Proxy.Cluster;

/// <summary>
/// Release events go to the log and counter at once, and to the runtime's organization's audit trail
/// in batches, at most <see cref="FlushInterval"/> after the release (one append per organization per
/// batch, not one per request).
/// </summary>
internal sealed class AuditingReleaseEventSink(
    LoggingReleaseEventSink log,
    IGrainFactory grains,
    ILogger<AuditingReleaseEventSink> logger) : BackgroundService, IReleaseEventSink
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(250);

    // Bounded: if the trail stays unreachable, the proxy keeps serving and drops (and logs) the overflow.
    private readonly Channel<ReleaseEvent> pending = Channel.CreateBounded<ReleaseEvent>(new BoundedChannelOptions(100_000) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Record(ReleaseEvent releaseEvent)
    {
        log.Record(releaseEvent);
        if (releaseEvent.OrganizationId is not null && !pending.Writer.TryWrite(releaseEvent))
        {
            logger.LogError("Release event of runtime {RuntimeId} dropped: the audit queue is full", releaseEvent.RuntimeId);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync();
            }
        }
        catch (OperationCanceledException)
        {
        }

        await FlushAsync();
    }

    private async Task FlushAsync()
    {
        var batch = new List<ReleaseEvent>();
        while (pending.Reader.TryRead(out var releaseEvent))
        {
            batch.Add(releaseEvent);
        }

        await Task.WhenAll(batch.GroupBy(e => e.OrganizationId!).Select(async organization =>
        {
            try
            {
                var error = await grains.ReferenceTo<IAuditTrailGrain>(organization.Key).Append(organization.Select(ToEntry).ToList());
                if (error != VaultError.None)
                {
                    logger.LogError("{Count} release event(s) of organization {OrganizationId} not recorded: {Error}", organization.Count(), organization.Key, error);
                }
            }
            catch (Exception e)
            {
                logger.LogError("{Count} release event(s) of organization {OrganizationId} not recorded: {Error}", organization.Count(), organization.Key, e.GetType().Name);
            }
        }));
    }

    private static AuditEntry ToEntry(ReleaseEvent e)
    {
        var detail = new Dictionary<string, string> { ["host"] = e.Host, ["method"] = e.Method, ["path"] = e.Path, ["location"] = e.Location };
        if (e.Reason is not null)
        {
            detail["reason"] = e.Reason;
        }

        var released = e.Outcome == "released";
        return new AuditEntry(
            new AuditActor(AuditActor.Runtime, e.RuntimeId),
            "secret.release",
            released ? AuditEntry.Success : AuditEntry.Denied,
            released ? StatusCodes.Status200OK : StatusCodes.Status403Forbidden,
            new AuditResource(e.VaultId, e.SecretId, e.EnvKey),
            detail);
    }
}
