using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// Wraps the real (Azurite) grain storage and makes writes of chosen grains fail or wait, as a
/// storage outage or a slow disk would, and counts every write per grain. Everything else goes
/// through to the real provider.
/// </summary>
public sealed class FaultInjectingGrainStorage(IGrainStorage inner) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly ConcurrentDictionary<string, (int Count, bool AfterLanding, bool AsConflict)> FailingWrites = new();
    private static readonly ConcurrentDictionary<string, Hold> HeldWrites = new();
    private static readonly ConcurrentDictionary<string, int> Writes = new();

    /// <summary>
    /// The next <paramref name="count"/> writes of the grain with this key fail. With
    /// <paramref name="afterLanding"/> each reaches storage first and only its answer is lost, so
    /// the writer cannot know whether it landed.
    /// </summary>
    public static void FailWrites(string grainKey, int count = 1, bool afterLanding = false) =>
        FailingWrites[grainKey] = (count, afterLanding, false);

    /// <summary>
    /// The next write of the grain with this key reaches storage but reports an ETag conflict, as
    /// a write whose answer was lost, or one racing another activation, looks to the grain.
    /// </summary>
    public static void LandThenConflict(string grainKey) => FailingWrites[grainKey] = (1, true, true);

    /// <summary>Writes of this grain wait until the returned source is completed (or <see cref="ReleaseWrites"/>).</summary>
    public static TaskCompletionSource HoldWrites(string grainKey) => (HeldWrites[grainKey] = new Hold()).Release;

    /// <summary>Completes when a write of this grain is waiting in the hold set by <see cref="HoldWrites"/>.</summary>
    public static Task WriteArrived(string grainKey) =>
        HeldWrites.TryGetValue(grainKey, out var hold) ? hold.Arrived.Task : throw new InvalidOperationException($"No hold on {grainKey}.");

    /// <summary>Lets the writes waiting now go on, and holds the ones that come after.</summary>
    public static void ReleaseHeldWritesOnly(string grainKey)
    {
        var next = new Hold();
        if (HeldWrites.TryGetValue(grainKey, out var current) && HeldWrites.TryUpdate(grainKey, next, current))
        {
            current.Release.TrySetResult();
        }
    }

    public static void ReleaseWrites(string grainKey)
    {
        if (HeldWrites.TryRemove(grainKey, out var held))
        {
            held.Release.TrySetResult();
        }
    }

    /// <summary>How many writes of this grain reached this storage (held, failed or not).</summary>
    public static int WriteCount(string grainKey) => Writes.GetValueOrDefault(grainKey);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = grainId.Key.ToString()!;
        Writes.AddOrUpdate(key, 1, (_, count) => count + 1);
        if (HeldWrites.TryGetValue(key, out var held))
        {
            held.Arrived.TrySetResult();
            await held.Release.Task;
        }

        var afterLanding = false;
        var asConflict = false;
        if (FailingWrites.TryGetValue(key, out var failing) && failing.Count > 0)
        {
            FailingWrites[key] = failing with { Count = failing.Count - 1 };
            if (!failing.AfterLanding)
            {
                throw new IOException($"Injected storage failure for {key}.");
            }

            afterLanding = true;
            asConflict = failing.AsConflict;
        }

        await inner.WriteStateAsync(stateName, grainId, grainState);
        if (asConflict)
        {
            throw new InconsistentStateException($"Injected ETag conflict for {key} after the write landed.");
        }

        if (afterLanding)
        {
            throw new IOException($"Injected loss of the answer to a write of {key}.");
        }
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (inner is ILifecycleParticipant<ISiloLifecycle> participant)
        {
            participant.Participate(lifecycle);
        }
    }

    private sealed class Hold
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
