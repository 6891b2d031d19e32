using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Grains.Vaults;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// Wraps the real (Azurite) vault log store and makes the commits (appends, and a new vault's
/// head) of chosen vaults fail or wait, as a storage outage or a slow disk would, and counts them
/// per vault. Everything else goes through to the real store.
/// </summary>
public sealed class FaultInjectingVaultLogStore(IVaultLogStore inner) : DelegatingVaultLogStore(inner)
{
    private static readonly ConcurrentDictionary<string, (int Count, bool AfterLanding, bool AsConflict)> FailingWrites = new();
    private static readonly ConcurrentDictionary<string, Hold> HeldWrites = new();
    private static readonly ConcurrentDictionary<string, int> Writes = new();

    /// <summary>
    /// The next <paramref name="count"/> writes of the vault fail. With <paramref name="afterLanding"/>
    /// each reaches storage first and only its answer is lost, so the writer cannot know whether it landed.
    /// </summary>
    public static void FailWrites(string vaultId, int count = 1, bool afterLanding = false) =>
        FailingWrites[vaultId] = (count, afterLanding, false);

    /// <summary>
    /// The next write of the vault reaches storage but reports a conflict, as a write whose answer
    /// was lost and was retried by the SDK, or one racing another activation, looks to the grain.
    /// </summary>
    public static void LandThenConflict(string vaultId) => FailingWrites[vaultId] = (1, true, true);

    /// <summary>Writes of this vault wait until the returned source is completed (or <see cref="ReleaseWrites"/>).</summary>
    public static TaskCompletionSource HoldWrites(string vaultId) => (HeldWrites[vaultId] = new Hold()).Release;

    /// <summary>Completes when a write of this vault is waiting in the hold set by <see cref="HoldWrites"/>.</summary>
    public static Task WriteArrived(string vaultId) =>
        HeldWrites.TryGetValue(vaultId, out var hold) ? hold.Arrived.Task : throw new InvalidOperationException($"No hold on {vaultId}.");

    /// <summary>Lets the writes waiting now go on, and holds the ones that come after.</summary>
    public static void ReleaseHeldWritesOnly(string vaultId)
    {
        var next = new Hold();
        if (HeldWrites.TryGetValue(vaultId, out var current) && HeldWrites.TryUpdate(vaultId, next, current))
        {
            current.Release.TrySetResult();
        }
    }

    public static void ReleaseWrites(string vaultId)
    {
        if (HeldWrites.TryRemove(vaultId, out var held))
        {
            held.Release.TrySetResult();
        }
    }

    /// <summary>How many commits of this vault reached this store (held, failed or not).</summary>
    public static int WriteCount(string vaultId) => Writes.GetValueOrDefault(vaultId);

    public override Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken) =>
        Commit(vaultId, () => Inner.AppendAsync(vaultId, log, position, record, cancellationToken));

    public override async Task<string> CreateHeadAsync(string vaultId, string log, CancellationToken cancellationToken)
    {
        var etag = "";
        await Commit(vaultId, async () => etag = await Inner.CreateHeadAsync(vaultId, log, cancellationToken));
        return etag;
    }

    private static async Task Commit(string vaultId, Func<Task> write)
    {
        Writes.AddOrUpdate(vaultId, 1, (_, count) => count + 1);
        if (HeldWrites.TryGetValue(vaultId, out var held))
        {
            held.Arrived.TrySetResult();
            await held.Release.Task;
        }

        var afterLanding = false;
        var asConflict = false;
        if (FailingWrites.TryGetValue(vaultId, out var failing) && failing.Count > 0)
        {
            FailingWrites[vaultId] = failing with { Count = failing.Count - 1 };
            if (!failing.AfterLanding)
            {
                throw new IOException($"Injected storage failure for {vaultId}.");
            }

            afterLanding = true;
            asConflict = failing.AsConflict;
        }

        await write();
        if (asConflict)
        {
            throw new VaultLogConflictException($"Injected conflict for {vaultId} after the write landed.");
        }

        if (afterLanding)
        {
            throw new IOException($"Injected loss of the answer to a write of {vaultId}.");
        }
    }

    private sealed class Hold
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

public static class ServiceCollectionDecorations
{
    /// <summary>Replaces a keyed singleton with a wrapper around the original.</summary>
    public static void DecorateKeyed<T>(this IServiceCollection services, object key, Func<IServiceProvider, T, T> decorate)
        where T : class
    {
        var original = services.Last(d => d.ServiceType == typeof(T) && d.IsKeyedService && Equals(d.ServiceKey, key));
        services.Remove(original);
        services.AddKeyedSingleton<T>(key, (provider, serviceKey) =>
        {
            var inner = original.KeyedImplementationFactory is { } factory
                ? (T)factory(provider, serviceKey)
                : original.KeyedImplementationInstance is T instance
                    ? instance
                    : (T)ActivatorUtilities.CreateInstance(provider, original.KeyedImplementationType!);
            return decorate(provider, inner);
        });
    }

    /// <summary>Replaces a singleton built by a factory with a wrapper around it.</summary>
    public static void Decorate<T>(this IServiceCollection services, Func<IServiceProvider, T, T> decorate)
        where T : class
    {
        var original = services.Last(d => d.ServiceType == typeof(T) && !d.IsKeyedService);
        services.Remove(original);
        services.AddSingleton<T>(provider => decorate(provider, (T)original.ImplementationFactory!(provider)));
    }
}
