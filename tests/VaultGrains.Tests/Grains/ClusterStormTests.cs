using System.Collections.Concurrent;
using System.Security.Cryptography;
using Orleans.TestingHost;
using VaultGrains.Api;
using VaultGrains.Domain;
using VaultGrains.Tests.Infrastructure;
using Xunit.Abstractions;

namespace VaultGrains.Tests.Grains;

/// <summary>
/// Three silos clustered through the Azure Table membership in Azurite, with the production
/// failure-detection settings. A storm of concurrent creates (many vaults, every env_key asked for
/// twice) runs while the silo hosting most vaults is killed and a new one joins.
/// </summary>
public sealed class ClusterStormTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Vaults = 12;
    private readonly ConcurrentQueue<(string VaultId, NewSecret Secret, int Status)> outcomes = new();
    private TestCluster cluster = null!;

    public async Task InitializeAsync()
    {
        var keyFile = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key");
        cluster = await VaultTestCluster.StartAsync(TestStorage.NewStorage(), keyFile, "svc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), silos: 3, azureTableClustering: true);
    }

    public async Task DisposeAsync()
    {
        await cluster.StopAllSilosAsync();
        await cluster.DisposeAsync();
    }

    [Fact]
    public async Task Creates_during_a_silo_kill_and_a_join_are_acknowledged_only_when_stored_and_never_duplicated()
    {
        var organizationId = ResourceId.New(ResourceId.Organization);
        var organization = cluster.GrainFactory.GetGrain<IOrganizationGrain>(organizationId);
        Assert.True((await organization.Create("Storm")).Succeeded);
        var vaultIds = new List<string>();
        for (var i = 0; i < Vaults; i++)
        {
            var created = await organization.CreateVault(ResourceId.New(ResourceId.Vault), $"v{i}", null);
            Assert.True(created.Succeeded, created.Error.ToString());
            vaultIds.Add(created.Value!.Id);
        }

        using var stop = new CancellationTokenSource();
        var workers = vaultIds.SelectMany(v => new[] { StormAsync(organizationId, v, stop.Token), StormAsync(organizationId, v, stop.Token) }).ToArray();
        await UntilAsync(() => vaultIds.All(v => outcomes.Any(o => o.VaultId == v && o.Status == 201)), "the storm did not get going");

        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        var hosts = new Dictionary<string, SiloAddress?>();
        foreach (var vaultId in vaultIds)
        {
            hosts[vaultId] = await management.GetActivationAddress(cluster.GrainFactory.GetGrain<IVaultGrain>(vaultId));
        }

        var victim = cluster.GetActiveSilos().OrderByDescending(s => hosts.Values.Count(h => h == s.SiloAddress)).First();
        var moved = hosts.Where(h => h.Value == victim.SiloAddress).Select(h => h.Key).ToArray();
        var before = outcomes.Count;
        await Task.WhenAll(cluster.KillSiloAsync(victim), cluster.StartAdditionalSiloAsync());
        await UntilAsync(() => moved.All(v => outcomes.Skip(before).Any(o => o.VaultId == v && o.Status == 201)), "vaults of the killed silo did not come back");
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        var all = outcomes.ToArray();
        Assert.All(all, o => Assert.Contains(o.Status, new[] { 201, 400, 503 }));
        foreach (var vault in all.GroupBy(o => o.VaultId))
        {
            var grain = cluster.GrainFactory.GetGrain<IVaultGrain>(vault.Key);
            var listed = (await grain.ListSecrets(organizationId)).Value!;
            Assert.Equal(listed.Count, listed.Select(s => s.EnvKey).Distinct().Count());
            var stored = listed.ToDictionary(s => s.Id, s => s.EnvKey);
            foreach (var (_, secret, _) in vault.Where(o => o.Status == 201))
            {
                Assert.True(stored.TryGetValue(secret.Id, out var envKey) && envKey == secret.EnvKey, $"acknowledged but not stored: {vault.Key}/{secret.EnvKey}");
                Assert.Equal(secret.EnvKey, (await grain.GetSecret(organizationId, secret.Id)).Value?.EnvKey);
            }

            foreach (var duplicate in vault.Where(o => o.Status == 400).Select(o => o.Secret.EnvKey).Distinct())
            {
                Assert.Contains(duplicate, stored.Values);
            }
        }

        output.WriteLine($"{moved.Length} of {Vaults} vaults moved; answers: " +
            string.Join(", ", all.GroupBy(o => o.Status).OrderBy(g => g.Key).Select(g => $"{g.Count()} x {g.Key}")));
        Assert.Contains(all, o => o.Status == 201);
    }

    // Maps each outcome to what the API would answer: 201, 400 duplicate, or 503 for a refusal (stale view, trail unavailable) or a transient cluster failure.
    private async Task StormAsync(string organizationId, string vaultId, CancellationToken stop)
    {
        var vault = cluster.GrainFactory.GetGrain<IVaultGrain>(vaultId);
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var secret = new NewSecret(ResourceId.New(ResourceId.Secret), $"KEY_{i}", new SecretValue($"value-{i}"), []);
            int status;
            try
            {
                var reply = await vault.CreateSecret(organizationId, secret);
                status = reply.Error switch
                {
                    VaultError.None => 201,
                    VaultError.EnvKeyExists => 400,
                    // The organization's audit trail grain moves with a killed silo too: refused, nothing written.
                    VaultError.Unavailable or VaultError.AuditUnavailable => 503,
                    var other => throw new Xunit.Sdk.XunitException($"unexpected refusal {other} for {vaultId}/{secret.EnvKey}"),
                };
            }
            catch (Exception e) when (ErrorBoundary.IsTransient(e))
            {
                status = 503;
            }

            outcomes.Enqueue((vaultId, secret, status));
            await Task.Delay(10, CancellationToken.None);
        }
    }

    private static async Task UntilAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }
}
