using VaultGrains.Grains.Vaults;

namespace VaultGrains.Tests.Grains.Vaults;

/// <summary>The steps of the vault log store a fault can be injected at.</summary>
public enum VaultLogStep
{
    WriteCheckpoint,
    Append,
    CreateHead,
    ReplaceHead,
    DeleteLog,
    DeleteHead,
}

/// <summary>How an injected fault behaves.</summary>
public enum VaultLogFault
{
    /// <summary>Fails before anything reaches storage.</summary>
    FailBefore,

    /// <summary>Lands, then the answer is lost.</summary>
    LoseAnswer,

    /// <summary>Lands, the answer is lost, and the SDK retries it: the retry's condition no longer holds.</summary>
    RetryAfterLanding,

    /// <summary>Only the first half of the bytes land (an append longer than one atomic block, interrupted).</summary>
    Torn,
}

/// <summary>
/// A vault log store in memory with the Azure store's conditions (append position, head ETag,
/// create-if-absent), and faults injected at chosen steps: for the write path's unit tests.
/// </summary>
public sealed class InMemoryVaultLogStore : IVaultLogStore
{
    private readonly object gate = new();
    private readonly Dictionary<string, List<byte>> logs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Log, int Version)> heads = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (byte[] Bytes, int Version)> legacy = new(StringComparer.Ordinal);
    private readonly List<(VaultLogStep Step, VaultLogFault Fault, Func<string, bool> Applies)> faults = [];
    private int versions;

    /// <summary>Every call, in order, as "Step log".</summary>
    public List<string> Calls { get; } = [];

    /// <summary>The next call of <paramref name="step"/> (whose log name passes <paramref name="log"/>) fails as <paramref name="fault"/> says.</summary>
    public void Inject(VaultLogStep step, VaultLogFault fault, Func<string, bool>? log = null)
    {
        lock (gate)
        {
            faults.Add((step, fault, log ?? (_ => true)));
        }
    }

    /// <summary>Holds the next appends until the returned source completes.</summary>
    public TaskCompletionSource? HoldAppends { get; set; }

    /// <summary>Appends asked for so far (counted as they arrive, before any hold or delay).</summary>
    public int AppendsStarted => Volatile.Read(ref appendsStarted);

    private int appendsStarted;

    public void PutLegacy(string vaultId, byte[] bytes) => legacy[vaultId] = (bytes, ++versions);

    public bool HasLegacy(string vaultId) => legacy.ContainsKey(vaultId);

    public string? HeadOf(string vaultId) => heads.TryGetValue(vaultId, out var head) ? head.Log : null;

    public IReadOnlyList<string> LogsOf(string vaultId) => [.. logs.Keys.Where(k => k.StartsWith(vaultId + "/", StringComparison.Ordinal)).Select(k => k[(vaultId.Length + 1)..]).Order(StringComparer.Ordinal)];

    public byte[] LogBytes(string vaultId, string log) => [.. logs[Key(vaultId, log)]];

    /// <summary>Changes stored bytes, as damage to the storage account would.</summary>
    public void Damage(string vaultId, string log, Action<List<byte>> damage) => damage(logs[Key(vaultId, log)]);

    public Task<VaultLogHead?> ReadHeadAsync(string vaultId, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            Calls.Add($"ReadHead");
            return Task.FromResult(heads.TryGetValue(vaultId, out var head) ? new VaultLogHead(head.Log, $"{head.Version}") : null);
        }
    }

    public Task<byte[]> ReadLogAsync(string vaultId, string log, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return logs.TryGetValue(Key(vaultId, log), out var bytes)
                ? Task.FromResult(bytes.ToArray())
                : throw new VaultLogCorruptException($"log {log} missing");
        }
    }

    public Task WriteCheckpointAsync(string vaultId, string log, ReadOnlyMemory<byte> checkpoint, CancellationToken cancellationToken) =>
        Step(VaultLogStep.WriteCheckpoint, log, checkpoint, () =>
        {
            if (!logs.TryAdd(Key(vaultId, log), []))
            {
                throw new VaultLogConflictException("log exists");
            }
        }, landed => logs[Key(vaultId, log)].AddRange(landed.ToArray()));

    public async Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref appendsStarted);
        if (HoldAppends is { } hold)
        {
            await hold.Task;
        }

        await Step(VaultLogStep.Append, log, record, () =>
        {
            if (!logs.TryGetValue(Key(vaultId, log), out var bytes) || bytes.Count != position)
            {
                throw new VaultLogConflictException("append position");
            }
        }, landed => logs[Key(vaultId, log)].AddRange(landed.ToArray()));
    }

    public async Task<string> CreateHeadAsync(string vaultId, string log, CancellationToken cancellationToken)
    {
        await Step(VaultLogStep.CreateHead, log, default, () =>
        {
            if (heads.ContainsKey(vaultId))
            {
                throw new VaultLogConflictException("head exists");
            }
        }, _ => heads[vaultId] = (log, ++versions));
        return $"{heads[vaultId].Version}";
    }

    public async Task<string> ReplaceHeadAsync(string vaultId, string log, string etag, CancellationToken cancellationToken)
    {
        await Step(VaultLogStep.ReplaceHead, log, default, () =>
        {
            if (!heads.TryGetValue(vaultId, out var head) || $"{head.Version}" != etag)
            {
                throw new VaultLogConflictException("head etag");
            }
        }, _ => heads[vaultId] = (log, ++versions));
        return $"{heads[vaultId].Version}";
    }

    public Task DeleteHeadAsync(string vaultId, CancellationToken cancellationToken) =>
        Step(VaultLogStep.DeleteHead, "", default, () => { }, _ => heads.Remove(vaultId));

    public Task DeleteLogAsync(string vaultId, string log, CancellationToken cancellationToken) =>
        Step(VaultLogStep.DeleteLog, log, default, () => { }, _ => logs.Remove(Key(vaultId, log)));

    public Task<IReadOnlyList<string>> ListLogsAsync(string vaultId, CancellationToken cancellationToken) => Task.FromResult(LogsOf(vaultId));

    public Task<LegacyVaultBlob?> ReadLegacyAsync(string vaultId, CancellationToken cancellationToken) =>
        Task.FromResult(legacy.TryGetValue(vaultId, out var blob) ? new LegacyVaultBlob(blob.Bytes, $"{blob.Version}") : null);

    public Task DeleteLegacyAsync(string vaultId, string etag, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (legacy.TryGetValue(vaultId, out var blob) && $"{blob.Version}" != etag)
            {
                throw new VaultLogConflictException("legacy etag");
            }

            legacy.Remove(vaultId);
            return Task.CompletedTask;
        }
    }

    private async Task Step(VaultLogStep step, string log, ReadOnlyMemory<byte> bytes, Action check, Action<ReadOnlyMemory<byte>> apply)
    {
        await Task.Yield();
        lock (gate)
        {
            Calls.Add($"{step} {log}");
            var index = faults.FindIndex(f => f.Step == step && f.Applies(log));
            VaultLogFault? fault = null;
            if (index >= 0)
            {
                fault = faults[index].Fault;
                faults.RemoveAt(index);
            }

            if (fault == VaultLogFault.FailBefore)
            {
                throw new IOException($"Injected failure of {step}.");
            }

            check();
            if (fault == VaultLogFault.Torn)
            {
                apply(bytes[..(bytes.Length / 2)]);
                throw new IOException($"Injected interruption of {step}.");
            }

            apply(bytes);
            switch (fault)
            {
                case VaultLogFault.LoseAnswer:
                    throw new IOException($"Injected loss of the answer to {step}.");
                case VaultLogFault.RetryAfterLanding:
                    // The SDK sends the same request again; its condition no longer holds.
                    try
                    {
                        check();
                    }
                    catch (VaultLogConflictException e)
                    {
                        throw new VaultLogConflictException($"Retry of {step} refused.", e);
                    }

                    throw new InvalidOperationException($"The retry of {step} was not refused.");
            }
        }
    }

    private static string Key(string vaultId, string log) => $"{vaultId}/{log}";
}
