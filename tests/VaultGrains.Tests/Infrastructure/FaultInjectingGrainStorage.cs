using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// Wraps the real (Azurite) grain storage and makes writes of chosen grains fail, as a storage
/// outage would. Everything else goes through to the real provider.
/// </summary>
public sealed class FaultInjectingGrainStorage(IGrainStorage inner) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly ConcurrentDictionary<string, int> FailingWrites = new();
    private static readonly ConcurrentDictionary<string, TaskCompletionSource> HeldWrites = new();
    private static readonly ConcurrentDictionary<string, int> LandingButFailingWrites = new();

    /// <summary>The next <paramref name="count"/> writes of the grain with this key fail.</summary>
    public static void FailWrites(string grainKey, int count = 1) => FailingWrites[grainKey] = count;

    /// <summary>
    /// The next write of the grain with this key reaches storage but reports an ETag conflict, as
    /// a write whose answer was lost, or one racing another activation, looks to the grain.
    /// </summary>
    public static void LandThenConflict(string grainKey) => LandingButFailingWrites[grainKey] = 1;

    /// <summary>Writes of this grain wait until the returned source is completed.</summary>
    public static TaskCompletionSource HoldWrites(string grainKey) =>
        HeldWrites[grainKey] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public static void ReleaseWrites(string grainKey)
    {
        if (HeldWrites.TryRemove(grainKey, out var held))
        {
            held.TrySetResult();
        }
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = grainId.Key.ToString()!;
        if (HeldWrites.TryGetValue(key, out var held))
        {
            await held.Task;
        }

        if (FailingWrites.TryGetValue(key, out var remaining) && remaining > 0)
        {
            FailingWrites[key] = remaining - 1;
            throw new IOException($"Injected storage failure for {key}.");
        }

        await inner.WriteStateAsync(stateName, grainId, grainState);
        if (LandingButFailingWrites.TryRemove(key, out _))
        {
            throw new InconsistentStateException($"Injected ETag conflict for {key} after the write landed.");
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
}
