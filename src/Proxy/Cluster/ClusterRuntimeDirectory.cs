using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using VaultGrains.Domain;
using VaultGrains.Proxy.Release;

namespace VaultGrains.Proxy.Cluster;

/// <summary>The cluster could not answer for a runtime; the proxy answers 502 and releases nothing.</summary>
public sealed class RuntimeDirectoryUnavailableException(string message) : Exception(message);

/// <summary>
/// Runtimes as the cluster knows them, held in this proxy's memory per runtime: loaded on first use
/// (one <see cref="IRuntimeGrain.Release"/>), dropped the moment the runtime grain pushes a change,
/// and never used for more than <see cref="MaxAge"/> without asking the grain whether its stamp moved
/// (so a lost push still takes effect within that second). Entries idle for <see cref="IdleLifetime"/>
/// are forgotten.
/// </summary>
internal sealed class ClusterRuntimeDirectory : IRuntimeDirectory, IRuntimeObserver, IDisposable
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan IdleLifetime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan ResubscribeAfter = TimeSpan.FromSeconds(30);
    private static readonly Meter Meter = new("VaultGrains.Proxy");
    private static readonly Counter<long> Loads = Meter.CreateCounter<long>("vaultgrains.proxy.runtime_loads", description: "Runtime secrets loaded from the cluster (first use, or after a change).");
    private static readonly Counter<long> Pushes = Meter.CreateCounter<long>("vaultgrains.proxy.runtime_pushes", description: "Change notices pushed by runtime grains.");

    private readonly IGrainFactory grains;
    private readonly TimeProvider clock;
    private readonly ILogger<ClusterRuntimeDirectory> logger;
    private readonly ConcurrentDictionary<string, Held> held = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> generations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string RuntimeId, string TokenHash), Task<Held?>> refreshing = new();
    private readonly ITimer idleSweep;
    private IRuntimeObserver? reference;

    public ClusterRuntimeDirectory(IGrainFactory grains, TimeProvider clock, ILogger<ClusterRuntimeDirectory> logger)
    {
        this.grains = grains;
        this.clock = clock;
        this.logger = logger;
        idleSweep = clock.CreateTimer(_ => ForgetIdle(), null, IdleLifetime, IdleLifetime);
    }

    public int HeldRuntimes => held.Count;

    public async ValueTask<RuntimeSecrets?> AuthenticateAsync(string runtimeId, string token, CancellationToken cancellationToken)
    {
        // Malformed credentials never reach the cluster.
        if (!ResourceId.IsValid(runtimeId, ResourceId.Runtime) || !Credentials.RuntimeToken.IsWellFormed(token))
        {
            return null;
        }

        var tokenHash = CredentialFormat.Hash(token);
        var now = clock.GetTimestamp();
        if (held.TryGetValue(runtimeId, out var current) && current.HoldsToken(tokenHash) && current.IsFresh(now, clock))
        {
            current.LastUsed = now;
            return current.Secrets;
        }

        // One refresh per runtime and token at a time, however many requests arrive meanwhile.
        var key = (runtimeId, tokenHash);
        var refresh = refreshing.GetOrAdd(key, _ => RefreshAsync(runtimeId, tokenHash, current));
        try
        {
            return (await refresh.WaitAsync(cancellationToken))?.Secrets;
        }
        finally
        {
            refreshing.TryRemove(new KeyValuePair<(string, string), Task<Held?>>(key, refresh));
        }
    }

    /// <summary>Pushed by a runtime grain: forget what is held, so the next request reloads.</summary>
    public Task RuntimeChanged(string runtimeId)
    {
        Pushes.Add(1);
        generations.AddOrUpdate(runtimeId, 1, (_, generation) => generation + 1);
        held.TryRemove(runtimeId, out _);
        return Task.CompletedTask;
    }

    public void Dispose() => idleSweep.Dispose();

    private async Task<Held?> RefreshAsync(string runtimeId, string tokenHash, Held? current)
    {
        var runtime = grains.ReferenceTo<IRuntimeGrain>(runtimeId);
        var generation = generations.GetValueOrDefault(runtimeId);
        try
        {
            if (current is not null && current.HoldsToken(tokenHash))
            {
                var stamp = await runtime.CheckStamp(tokenHash);
                if (stamp is null)
                {
                    Forget(runtimeId, current);
                    return null;
                }

                if (stamp == current.Stamp && generation == current.Generation)
                {
                    var now = clock.GetTimestamp();
                    current.CheckedAt = now;
                    current.LastUsed = now;
                    await SubscribeIfDueAsync(runtime, current, now);
                    return current;
                }
            }

            var reply = await runtime.Release(tokenHash);
            if (reply.Error == VaultError.RuntimeNotFound)
            {
                // A wrong token must not evict what the right one loaded.
                if (current is not null && current.HoldsToken(tokenHash))
                {
                    Forget(runtimeId, current);
                }

                return null;
            }

            if (!reply.Succeeded)
            {
                throw new RuntimeDirectoryUnavailableException($"Runtime {runtimeId} could not be loaded: {reply.Error}.");
            }

            Loads.Add(1);
            var loaded = new Held(tokenHash, ToSecrets(reply.Value!), reply.Value!.Stamp, generation, clock.GetTimestamp());
            await SubscribeIfDueAsync(runtime, loaded, loaded.CheckedAt);

            // A push that arrived while loading means what was loaded may already be old: answer
            // this request with it (it was current when asked) but do not keep it.
            if (generations.GetValueOrDefault(runtimeId) == generation)
            {
                held[runtimeId] = loaded;
            }

            return loaded;
        }
        catch (Exception e) when (e is not RuntimeDirectoryUnavailableException)
        {
            logger.LogWarning("Runtime {RuntimeId} could not be checked: {Error}", runtimeId, e.GetType().Name);
            throw new RuntimeDirectoryUnavailableException($"Runtime {runtimeId} could not be checked: {e.GetType().Name}.");
        }
    }

    private async Task SubscribeIfDueAsync(IRuntimeGrain runtime, Held entry, long now)
    {
        if (entry.SubscribedAt != 0 && clock.GetElapsedTime(entry.SubscribedAt, now) < ResubscribeAfter)
        {
            return;
        }

        reference ??= grains.CreateObjectReference<IRuntimeObserver>(this);
        try
        {
            await runtime.Subscribe(reference);
            entry.SubscribedAt = now;
        }
        catch (Exception e)
        {
            // The one-second stamp check still bounds how long a change can go unnoticed.
            logger.LogDebug("Subscribing to runtime {RuntimeId} failed: {Error}", runtime.GetPrimaryKeyString(), e.GetType().Name);
        }
    }

    private void Forget(string runtimeId, Held entry) => held.TryRemove(new KeyValuePair<string, Held>(runtimeId, entry));

    private void ForgetIdle()
    {
        var now = clock.GetTimestamp();
        foreach (var (runtimeId, entry) in held)
        {
            if (clock.GetElapsedTime(entry.LastUsed, now) > IdleLifetime)
            {
                Forget(runtimeId, entry);
            }
        }
    }

    private static RuntimeSecrets ToSecrets(RuntimeRelease release) => new(
        release.RuntimeId,
        release.OrganizationId,
        release.Secrets.Select(s => new ReleasableSecret(s.VaultId, s.SecretId, s.EnvKey, s.AllowedDomains ?? [], s.Value.Plaintext)).ToArray());

    /// <summary>One runtime's secrets as held here, with when the cluster last confirmed them.</summary>
    private sealed class Held(string tokenHash, RuntimeSecrets secrets, long stamp, long generation, long checkedAt)
    {
        private readonly byte[] tokenHash = Encoding.ASCII.GetBytes(tokenHash);

        public RuntimeSecrets Secrets { get; } = secrets;

        public long Stamp { get; } = stamp;

        public long Generation { get; } = generation;

        public long CheckedAt { get; set; } = checkedAt;

        public long LastUsed { get; set; } = checkedAt;

        public long SubscribedAt { get; set; }

        public bool HoldsToken(string candidate) => CryptographicOperations.FixedTimeEquals(tokenHash, Encoding.ASCII.GetBytes(candidate));

        public bool IsFresh(long now, TimeProvider clock) => clock.GetElapsedTime(CheckedAt, now) < MaxAge;
    }
}
