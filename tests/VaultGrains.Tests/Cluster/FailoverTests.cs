using System.Net;
using VaultGrains.Tests.Infrastructure;
using Xunit.Abstractions;

namespace VaultGrains.Tests.Cluster;

[CollectionDefinition(nameof(ProcessClusterCollection))]
public sealed class ProcessClusterCollection : ICollectionFixture<ProcessCluster>;

/// <summary>
/// Silo and API processes on loopback under a steady load of concurrent creates, while silos die,
/// leave and storage goes away. Whatever happens, every 201 is stored, no env_key is stored twice,
/// and every answer is a 201, a 400 duplicate or a 503 with Retry-After, within the API's deadline.
/// </summary>
[Collection(nameof(ProcessClusterCollection))]
public sealed class FailoverTests(ProcessCluster cluster, ITestOutputHelper output)
{
    // The API answers within ClusterCalls.RequestDeadline (6 s of retries + 1 s backoff + a last attempt of 3 s); plus slack for this shared machine.
    private static readonly TimeSpan ResponseLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Killing_a_silo_under_load_loses_nothing_duplicates_nothing_and_moves_its_vaults()
    {
        await cluster.EnsureSilosAsync(2);
        var (client, vaults) = await cluster.NewTenantAsync(8);
        var load = SecretLoad.Start(client, vaults);
        try
        {
            await load.WaitForCreatesAsync(vaults, TimeSpan.Zero, TimeSpan.FromSeconds(30));
            var (victim, moved) = await BusiestSiloAsync(vaults);

            var killedAt = load.Now;
            output.WriteLine($"silo killed {killedAt.TotalSeconds:F2}s into the load");
            victim.Process.Kill();
            await victim.Process.WaitForExitAsync();
            await load.WaitForCreatesAsync(moved, killedAt, TimeSpan.FromSeconds(45));
            await Task.Delay(TimeSpan.FromSeconds(1));
            await load.StopAsync();

            var counts = await load.VerifyAsync(client, ResponseLimit);
            var recovered = moved.Max(v => load.FirstCreateAfter(v, killedAt)!.Value);
            var unavailable = load.Outcomes.Count(o => o.Status == 503 && o.Finished >= killedAt && o.Started <= recovered);
            Report("kill -9", moved.Length, vaults.Length, recovered - killedAt, unavailable, counts);
            Assert.True(counts.GetValueOrDefault(201) > 0);
            await AssertEveryCreateIsAuditedAsync(client, load);
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

    [Fact]
    public async Task A_graceful_silo_stop_under_load_fails_no_request()
    {
        await cluster.EnsureSilosAsync(3);
        var (client, vaults) = await cluster.NewTenantAsync(8);
        var load = SecretLoad.Start(client, vaults);
        try
        {
            await load.WaitForCreatesAsync(vaults, TimeSpan.Zero, TimeSpan.FromSeconds(30));
            var (leaving, moved) = await BusiestSiloAsync(vaults);

            var stoppedAt = load.Now;
            await leaving.Process.StopAsync(TimeSpan.FromSeconds(40));
            Assert.Equal(0, leaving.Process.ExitCode);
            await load.WaitForCreatesAsync(moved, load.Now, TimeSpan.FromSeconds(30));
            await load.StopAsync();

            var counts = await load.VerifyAsync(client, ResponseLimit);
            var recovered = moved.Max(v => load.FirstCreateAfter(v, stoppedAt)!.Value);
            Report("SIGTERM", moved.Length, vaults.Length, recovered - stoppedAt, counts.GetValueOrDefault(503), counts);
            Assert.Equal(0, counts.GetValueOrDefault(503));
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

    [Fact]
    public async Task A_storage_outage_answers_503_and_heals_without_a_restart()
    {
        await cluster.EnsureSilosAsync(2);
        var (client, vaults) = await cluster.NewTenantAsync(4);
        var health = new Uri(cluster.ApiAddress, "/healthz");
        var load = SecretLoad.Start(client, vaults, pause: TimeSpan.FromMilliseconds(50));
        try
        {
            await load.WaitForCreatesAsync(vaults, TimeSpan.Zero, TimeSpan.FromSeconds(30));

            await cluster.Azurite.StopAsync();
            var downAt = load.Now;
            await ProcessCluster.WaitUntilAsync(() => Task.FromResult(load.Outcomes.Count(o => o.Status == 503 && o.Started >= downAt) >= 8), TimeSpan.FromSeconds(45), "no 503 while storage was down");
            await ProcessCluster.WaitUntilAsync(async () => !await ProcessCluster.IsHealthyAsync(health), TimeSpan.FromSeconds(10), "/healthz stayed healthy while storage was down");
            using (var probe = cluster.CreateClient())
            {
                var unhealthy = await probe.GetAsync("/healthz");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, unhealthy.StatusCode);
                Assert.Contains("\"storage\":\"unreachable\"", await unhealthy.Content.ReadAsStringAsync());

                // Still worth routing to: it answers, and the silos stay members.
                await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(new Uri(cluster.ApiAddress, "/readyz")), TimeSpan.FromSeconds(10), "/readyz failed while only storage was down");
                foreach (var silo in cluster.LiveSilos)
                {
                    Assert.True(await ProcessCluster.IsHealthyAsync(silo.Health), $"{silo.Process.Name} left the cluster");
                }
            }

            var upAt = load.Now;
            cluster.Azurite.Restart();
            var answeringAt = load.Now;
            await load.WaitForCreatesAsync(vaults, upAt, TimeSpan.FromSeconds(60));
            await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(health), TimeSpan.FromSeconds(30), "/healthz did not recover");
            await load.StopAsync();

            var counts = await load.VerifyAsync(client, ResponseLimit);
            var falseCreates = load.Outcomes.Where(o => o.Created && o.Started >= downAt && o.Finished <= upAt).ToArray();
            Assert.True(falseCreates.Length == 0, "201 while storage was down: " + string.Join("; ", falseCreates.Select(o => o.ToString())));
            var healed = vaults.Max(v => load.FirstCreateAfter(v, upAt)!.Value);
            output.WriteLine($"storage outage: {load.Outcomes.Count(o => o.Status == 503)} x 503 over {(upAt - downAt).TotalSeconds:F1} s down; " +
                $"Azurite listening again after {(answeringAt - upAt).TotalSeconds:F1} s, every vault writable {Math.Max(0, (healed - answeringAt).TotalSeconds):F1} s later; answers {Format(counts)}");
            Assert.True(cluster.LiveSilos.Count() >= 2, "a silo died during the storage outage");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n{cluster.Diagnostics()}");
        }
        finally
        {
            await load.StopAsync();
            if (!cluster.Azurite.IsRunning)
            {
                cluster.Azurite.Restart();
            }
        }
    }

    [Fact]
    public async Task Sigterm_to_the_api_lets_requests_in_flight_finish()
    {
        await cluster.EnsureApiAsync();
        var (client, vaults) = await cluster.NewTenantAsync(4);
        var load = SecretLoad.Start(client, vaults, pause: TimeSpan.Zero);
        try
        {
            await load.WaitForCreatesAsync(vaults, TimeSpan.Zero, TimeSpan.FromSeconds(30));
            var stoppingAt = load.Now;
            await cluster.Api.StopAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, cluster.Api.ExitCode);
            await load.StopAsync();

            // Sent (not merely about to be sent) before the signal.
            var inFlight = load.Outcomes.Where(o => o.Started < stoppingAt - TimeSpan.FromMilliseconds(50)).ToArray();
            var cut = inFlight.Where(o => o.Failure is not null).Take(5).ToArray();
            Assert.True(cut.Length == 0, "requests sent before the SIGTERM got no answer:\n" + string.Join('\n', cut.Select(o => o.ToString())));
            Assert.All(inFlight, o => Assert.True(o.Status is 201 or 400, o.ToString()));
            output.WriteLine($"API SIGTERM: {inFlight.Length} requests sent before it, all answered; exited 0");
        }
        finally
        {
            await load.StopAsync();
            await cluster.EnsureApiAsync();
        }
    }

    [Fact]
    public async Task A_silo_frozen_for_five_seconds_is_not_declared_dead()
    {
        // Fast failure detection must still tolerate a long GC pause or a starved CPU.
        await cluster.EnsureSilosAsync(2);
        var frozen = cluster.LiveSilos.Last();
        frozen.Process.Freeze();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
        finally
        {
            frozen.Process.Resume();
        }

        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(frozen.Process.HasExited, $"{frozen.Process.Name} was declared dead and stopped\n{cluster.Diagnostics()}");
        Assert.True(await ProcessCluster.IsHealthyAsync(frozen.Health), $"{frozen.Process.Name} is no longer an active member");
    }

    // The live silo that hosts most of the vaults, so that stopping it moves as many as possible.
    private async Task<(SiloProcess Silo, string[] Vaults)> BusiestSiloAsync(string[] vaults)
    {
        var located = await cluster.LocateVaultsAsync(vaults);
        var busiest = located.Where(kv => kv.Value is not null && !kv.Value.Process.HasExited)
            .GroupBy(kv => kv.Value!).OrderByDescending(g => g.Count()).First();
        return (busiest.Key, busiest.Select(kv => kv.Key).ToArray());
    }

    private void Report(string how, int moved, int vaults, TimeSpan window, int unavailable, Dictionary<int, int> counts)
    {
        var line = $"failover after {how}: window {window.TotalSeconds:F1} s (stop -> first 201 in every moved vault, {moved} of {vaults} vaults moved); " +
            $"{unavailable} x 503 in the window; answers {Format(counts)}";
        output.WriteLine(line);
        if (Environment.GetEnvironmentVariable("VAULTGRAINS_FAILOVER_REPORT") is { Length: > 0 } file)
        {
            File.AppendAllText(file, line + "\n");
        }
    }

    private static string Format(Dictionary<int, int> counts) =>
        string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Value} x {c.Key}"));

    /// <summary>No event of an acknowledged change is lost: every 201 has its success event, and the chain verifies.</summary>
    // A trail that moved with the killed silo refuses reads (503) until the vaults it asked have
    // delivered what it lost; those of the killed silo answer once the cluster declared it dead.
    private static async Task<System.Text.Json.JsonElement> ReadAuditPageAsync(HttpClient client, string url)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var response = await client.GetAsync(url);
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable || DateTime.UtcNow > deadline)
            {
                return await ProcessCluster.ReadAsync(response);
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    private async Task AssertEveryCreateIsAuditedAsync(HttpClient client, SecretLoad load)
    {
        var audited = new HashSet<string>(StringComparer.Ordinal);
        var otherOutcomes = new List<string>();
        string? organizationId = null;
        string? next = null;
        do
        {
            var page = await ReadAuditPageAsync(client, "/api/public/v1/audit-events?action=secret.create&limit=1000" + (next is null ? "" : $"&before={next}"));
            foreach (var e in page.GetProperty("events").EnumerateArray())
            {
                organizationId = e.GetProperty("organization_id").GetString();
                if (e.GetProperty("outcome").GetString() == "success")
                {
                    audited.Add(e.GetProperty("resource").GetProperty("secret_id").GetString()!);
                }
                else
                {
                    otherOutcomes.Add(e.GetRawText());
                }
            }

            next = page.GetProperty("next").GetString();
        }
        while (next is not null);

        var acknowledged = load.Outcomes.Where(o => o.Created).ToList();
        var missing = acknowledged.Where(o => !audited.Contains(o.SecretId!)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged creates have no success event: "
            + string.Join("; ", missing.Take(10).Select(o => $"{o.SecretId} {o}"))
            + "; other outcomes: " + string.Join(" ", otherOutcomes.Take(5)));
        using var admin = cluster.CreateClient(ProcessCluster.AdminToken);
        var verified = await ProcessCluster.ReadAsync(await admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/audit-events/verify"));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, verified.GetProperty("first_broken").ValueKind);
        output.WriteLine($"audit: {acknowledged.Count} acknowledged creates, each with its event; {verified.GetProperty("verified").GetInt32()} events verify");
    }
}
