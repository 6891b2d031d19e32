using VaultGrains.Tests.Infrastructure;
using Xunit.Abstractions;

namespace VaultGrains.Tests.Cluster;

/// <summary>
/// A rolling upgrade as the silo Deployment does it (maxSurge 1, maxUnavailable 0): for every
/// silo, a new one joins and becomes Active, then the old one gets SIGTERM and leaves. Under a
/// steady load of creates, no request fails and nothing acknowledged is lost.
/// </summary>
[Collection(nameof(ProcessClusterCollection))]
public sealed class RollingUpgradeTests(ProcessCluster cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task Replacing_every_silo_one_at_a_time_under_load_fails_no_request()
    {
        await cluster.EnsureSilosAsync(2);
        var (client, vaults) = await cluster.NewTenantAsync(8);
        var load = SecretLoad.Start(client, vaults);
        try
        {
            await load.WaitForCreatesAsync(vaults, TimeSpan.Zero, TimeSpan.FromSeconds(30));
            var old = cluster.LiveSilos.ToArray();
            var started = load.Now;
            foreach (var silo in old)
            {
                // Surge first: the new silo is an Active member before the old one is asked to leave.
                await cluster.StartSiloAsync();
                await silo.Process.StopAsync(TimeSpan.FromSeconds(40));
                Assert.Equal(0, silo.Process.ExitCode);
                await load.WaitForCreatesAsync(vaults, load.Now, TimeSpan.FromSeconds(30));
            }

            var took = load.Now - started;
            await load.StopAsync();

            var counts = await load.VerifyAsync(client, TimeSpan.FromSeconds(20));
            output.WriteLine($"rolling upgrade of {old.Length} silos under load in {took.TotalSeconds:F1} s: answers {string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Value} x {c.Key}"))}");
            Assert.Equal(0, counts.GetValueOrDefault(503));
            Assert.True(counts.GetValueOrDefault(201) > 0);
            Assert.All(old, s => Assert.True(s.Process.HasExited));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n{cluster.Diagnostics()}");
        }
        finally
        {
            await load.StopAsync();
        }
    }
}
