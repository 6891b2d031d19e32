using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Grains.Audit;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Audit;

/// <summary>The API and a silo whose audit store can be switched off (storage for the trail down) while the rest works.</summary>
public class AuditFixture : ApiFixture
{
    public FaultInjectingAuditStore AuditStore { get; private set; } = null!;

    /// <summary>Closed: the silo's calls asking a vault to deliver its audit events fail.</summary>
    public DeliveryCallGate DeliveryCalls { get; } = new();

    /// <summary>The organization's trail verifies from end to end (the admin verify endpoint finds no broken link).</summary>
    public async Task AssertChainUnbrokenAsync(string organizationId)
    {
        using var admin = CreateClient(AdminToken);
        var verified = await ReadAsync(await admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/audit-events/verify"));
        Assert.Equal(JsonValueKind.Null, verified.GetProperty("first_broken").ValueKind);
    }

    protected override void ConfigureSilo(IServiceCollection services)
    {
        services.AddSingleton<IOutgoingGrainCallFilter>(DeliveryCalls);
        var inner = services.Single(d => d.ServiceType == typeof(IAuditStore));
        services.Remove(inner);
        services.AddSingleton<IAuditStore>(provider =>
        {
            AuditStore = new FaultInjectingAuditStore((IAuditStore)inner.ImplementationFactory!(provider));
            return AuditStore;
        });
    }

    /// <summary>Collects every idle activation in the silo, as Orleans does after their idle time.</summary>
    public Task DeactivateAllAsync() =>
        SiloServices.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

    /// <summary>The organization's segment blobs as stored, oldest first.</summary>
    public async Task<List<(string Name, string Text)>> ReadSegmentsAsync(string organizationId)
    {
        var container = new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(Storage.AuditContainer);
        var segments = new List<(string, string)>();
        await foreach (var blob in container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = organizationId + "/" }))
        {
            if (blob.Name.EndsWith(".jsonl", StringComparison.Ordinal))
            {
                segments.Add((blob.Name, (await container.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToString()));
            }
        }

        return segments.OrderBy(s => s.Item1, StringComparer.Ordinal).ToList();
    }

    /// <summary>Replaces a segment's content in storage, as someone with write access to the account could.</summary>
    public async Task OverwriteSegmentAsync(string name, string text)
    {
        var blob = new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(Storage.AuditContainer).GetAppendBlobClient(name);
        await blob.DeleteIfExistsAsync();
        await blob.CreateAsync();
        using var content = new MemoryStream(Encoding.UTF8.GetBytes(text));
        await blob.AppendBlockAsync(content);
    }
}

/// <summary>Small segments and a two-second retention, to see whole segments expire.</summary>
public sealed class ShortRetentionAuditFixture : AuditFixture
{
    protected override void ConfigureSettings(Dictionary<string, string?> settings)
    {
        settings["Audit:SegmentBytes"] = "2048";
        // Each change its own write, so the small segments fill one after another.
        settings["Audit:WriteDelay"] = "00:00:00";
        settings["Audit:Retention"] = "00:00:02";
    }
}

/// <summary>Small segments, each change its own write: a vault's event is soon older than the segment being appended to.</summary>
public sealed class SmallSegmentAuditFixture : AuditFixture
{
    protected override void ConfigureSettings(Dictionary<string, string?> settings)
    {
        settings["Audit:SegmentBytes"] = "2048";
        settings["Audit:WriteDelay"] = "00:00:00";
    }
}

/// <summary>An audit store that fails every call while <see cref="Down"/> is set, as an unreachable storage account would.</summary>
public sealed class FaultInjectingAuditStore(IAuditStore inner) : IAuditStore
{
    private readonly ConcurrentDictionary<string, int> segmentReads = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> stagingListWrites = new(StringComparer.Ordinal);

    public volatile bool Down;
    private volatile SemaphoreSlim? segmentReadGate;
    private int heldSegmentReads;

    /// <summary>How many times an organization's segments were read from storage.</summary>
    public int SegmentReadsOf(string organizationId) => segmentReads.GetValueOrDefault(organizationId);

    public Task<IReadOnlyList<string>> ListSegmentsAsync(string organizationId, CancellationToken cancellationToken) =>
        Check<IReadOnlyList<string>>() ?? inner.ListSegmentsAsync(organizationId, cancellationToken);

    /// <summary>Segment reads waiting at the gate (<see cref="HoldSegmentReads"/>).</summary>
    public int HeldSegmentReads => Volatile.Read(ref heldSegmentReads);

    /// <summary>From now on every segment read waits until <see cref="ReleaseSegmentReads"/> lets it through.</summary>
    public void HoldSegmentReads() => segmentReadGate = new SemaphoreSlim(0);

    public void ReleaseSegmentReads(int count) => segmentReadGate?.Release(count);

    public void StopHoldingSegmentReads()
    {
        var gate = segmentReadGate;
        segmentReadGate = null;
        gate?.Release(1_000);
    }

    public async Task<string> ReadSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken)
    {
        segmentReads.AddOrUpdate(organizationId, 1, (_, reads) => reads + 1);
        if (segmentReadGate is { } gate)
        {
            Interlocked.Increment(ref heldSegmentReads);
            await gate.WaitAsync(cancellationToken);
            Interlocked.Decrement(ref heldSegmentReads);
        }

        return await (Check<string>() ?? inner.ReadSegmentAsync(organizationId, segment, cancellationToken));
    }

    public Task AppendAsync(string organizationId, string segment, bool create, long expectedLength, ReadOnlyMemory<byte> lines, CancellationToken cancellationToken) =>
        Check() ?? inner.AppendAsync(organizationId, segment, create, expectedLength, lines, cancellationToken);

    public Task DeleteSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken) =>
        Check() ?? inner.DeleteSegmentAsync(organizationId, segment, cancellationToken);

    public Task<AuditAnchor?> ReadAnchorAsync(string organizationId, CancellationToken cancellationToken) =>
        Check<AuditAnchor?>() ?? inner.ReadAnchorAsync(organizationId, cancellationToken);

    public Task WriteAnchorAsync(string organizationId, AuditAnchor anchor, CancellationToken cancellationToken) =>
        Check() ?? inner.WriteAnchorAsync(organizationId, anchor, cancellationToken);

    public Task<(IReadOnlyList<string> Vaults, string? ETag)> ReadStagingVaultsAsync(string organizationId, CancellationToken cancellationToken) =>
        Check<(IReadOnlyList<string>, string?)>() ?? inner.ReadStagingVaultsAsync(organizationId, cancellationToken);

    public Task<string?> TryWriteStagingVaultsAsync(string organizationId, IReadOnlyCollection<string> vaults, string? etag, CancellationToken cancellationToken)
    {
        stagingListWrites.AddOrUpdate(organizationId, 1, (_, writes) => writes + 1);
        return Check<string?>() ?? inner.TryWriteStagingVaultsAsync(organizationId, vaults, etag, cancellationToken);
    }

    /// <summary>How many times an organization's list of staging vaults was written (or tried).</summary>
    public int StagingListWritesOf(string organizationId) => stagingListWrites.GetValueOrDefault(organizationId);

    /// <summary>The organization's list of staging vaults as stored.</summary>
    public async Task<IReadOnlyList<string>> StagingListOf(string organizationId) => (await inner.ReadStagingVaultsAsync(organizationId, CancellationToken.None)).Vaults;

    private Task<T>? Check<T>() => Down ? Task.FromException<T>(new IOException("audit storage is down (test)")) : null;

    private Task? Check() => Down ? Task.FromException(new IOException("audit storage is down (test)")) : null;
}

/// <summary>
/// While <see cref="Closed"/>, a grain's call to <see cref="IVaultGrain.DeliverAuditEvents"/> fails
/// without reaching the vault, as a call to a vault on a silo not yet declared dead does.
/// </summary>
public sealed class DeliveryCallGate : IOutgoingGrainCallFilter
{
    public volatile bool Closed;

    public Task Invoke(IOutgoingGrainCallContext context) =>
        Closed && context.MethodName == nameof(IVaultGrain.DeliverAuditEvents)
            ? Task.FromException(new TimeoutException("the vault's silo does not answer (test)"))
            : context.Invoke();
}

/// <summary>The operator has turned on <c>Audit:Reads</c>.</summary>
public sealed class ReadAuditFixture : AuditFixture
{
    protected override void ConfigureSettings(Dictionary<string, string?> settings) => settings["Audit:Reads"] = "true";
}
