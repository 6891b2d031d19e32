using System.Collections.Concurrent;
using VaultGrains.Domain;

namespace VaultGrains.Bench.Load;

/// <summary>
/// Creates vaults for a target through its API, at most <see cref="VaultsPerTenant"/> per
/// organization (so no organization's listing grows large), and keeps a few ready in the
/// background for scenarios that fill vaults faster than a vault can be created on demand.
/// </summary>
internal sealed class VaultSupply(ApiTarget target, string label)
{
    public const int VaultsPerTenant = 100;
    private readonly SemaphoreSlim tenantGate = new(1, 1);
    private readonly ConcurrentQueue<BenchVault> ready = new();
    private readonly SemaphoreSlim wake = new(0);
    private Tenant? tenant;
    private int tenantVaults;
    private int tenants;
    private int created;
    private int wanted;
    private Task? refill;

    public int Created => created;

    /// <summary>Creates <paramref name="count"/> vaults now, <paramref name="parallelism"/> at a time.</summary>
    public async Task<BenchVault[]> CreateAsync(int count, string name, int parallelism = 16)
    {
        var vaults = new BenchVault[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (i, _) =>
            vaults[i] = await CreateOneAsync(name));
        return vaults;
    }

    /// <summary>From now on, keeps <paramref name="count"/> fresh vaults ready for <see cref="TakeAsync"/> (0 stops).</summary>
    public void KeepReady(int count)
    {
        Volatile.Write(ref wanted, count);
        refill ??= Task.Run(RefillAsync);
        wake.Release();
    }

    /// <summary>A fresh vault: a ready one if there is one, else one created now.</summary>
    public async ValueTask<BenchVault> TakeAsync()
    {
        if (ready.TryDequeue(out var vault))
        {
            wake.Release();
            return vault;
        }

        return await CreateOneAsync("spare");
    }

    private async Task RefillAsync()
    {
        while (true)
        {
            while (ready.Count < Volatile.Read(ref wanted))
            {
                try
                {
                    ready.Enqueue(await CreateOneAsync("spare"));
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"[{target.Name}] creating a spare vault failed: {e.Message}");
                    await Task.Delay(500);
                }
            }

            await wake.WaitAsync();
        }
    }

    private async Task<BenchVault> CreateOneAsync(string name)
    {
        Tenant owner;
        await tenantGate.WaitAsync();
        try
        {
            if (tenant is null || tenantVaults == VaultsPerTenant)
            {
                tenant = await target.CreateTenantAsync($"bench-{label}-{++tenants}");
                tenantVaults = 0;
            }

            tenantVaults++;
            owner = tenant;
        }
        finally
        {
            tenantGate.Release();
        }

        var vault = await target.CreateVaultAsync(owner, name);
        Interlocked.Increment(ref created);
        return vault;
    }
}

/// <summary>
/// One place load is aimed at: a vault that is swapped for a fresh one from the supply once it
/// has been handed out for as many creates as it can hold. Tickets, not "vault is full"
/// answers, drive the swap, so no request is wasted on a full vault.
/// </summary>
internal sealed class VaultSlot(VaultSupply supply, BenchVault first, int capacity = SecretRules.MaxSecretsPerVault)
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private Lease current = new(first, capacity);
    private int rotations;

    public int Rotations => rotations;

    public BenchVault Current => current.Vault;

    /// <summary>A vault with room for one more create.</summary>
    public async ValueTask<BenchVault> AcquireAsync()
    {
        while (true)
        {
            var lease = Volatile.Read(ref current);
            if (Interlocked.Increment(ref lease.Issued) <= lease.Capacity)
            {
                return lease.Vault;
            }

            await gate.WaitAsync();
            try
            {
                if (ReferenceEquals(current, lease))
                {
                    Volatile.Write(ref current, new Lease(await supply.TakeAsync(), capacity));
                    Interlocked.Increment(ref rotations);
                }
            }
            finally
            {
                gate.Release();
            }
        }
    }

    private sealed class Lease(BenchVault vault, int capacity)
    {
        public int Issued;

        public BenchVault Vault { get; } = vault;

        public int Capacity { get; } = capacity;
    }
}
