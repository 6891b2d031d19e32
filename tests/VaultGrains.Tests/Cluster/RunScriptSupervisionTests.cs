using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using VaultGrains.Tests.Infrastructure;
using Xunit.Abstractions;

namespace VaultGrains.Tests.Cluster;

/// <summary>
/// <c>SILOS=3 ./run.sh</c> as a user runs it (on free ports and a data directory of its own):
/// one silo is killed with SIGKILL under a steady load of creates. run.sh logs the death, the API
/// keeps answering through the other two silos, a replacement starts after the back-off and joins
/// the cluster; no acknowledged write is lost, every request is answered 201, 400 duplicate or
/// 503, and SIGTERM still stops everything in order.
/// </summary>
[Collection(nameof(ProcessClusterCollection))]
public sealed class RunScriptSupervisionTests(ITestOutputHelper output)
{
    private const string AdminToken = "run-script-admin-token-0123456789";

    [Fact]
    public async Task Run_sh_replaces_a_killed_silo_while_the_others_keep_serving()
    {
        var data = Directory.CreateTempSubdirectory("vaultgrains-run");
        // Silo 2 is killed and started again on the same ports.
        var (siloBase, gatewayBase) = (ReusablePorts.FreeRange(3), ReusablePorts.FreeRange(3));
        var (blob, queue, table, port) = (TestStorage.FreePort(), TestStorage.FreePort(), TestStorage.FreePort(), TestStorage.FreePort());
        var marker = Guid.NewGuid().ToString("N");
        var log = new ConcurrentQueue<string>();
        var start = new ProcessStartInfo("bash", [Path.Combine(TestStorage.RepositoryRoot(), "run.sh")])
        {
            WorkingDirectory = TestStorage.RepositoryRoot(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.Environment.Remove("VAULTGRAINS_TEST_STORAGE");
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["SILOS"] = "3",
            ["PORT"] = $"{port}",
            ["PROXY_PORT"] = $"{TestStorage.FreePort()}",
            ["AZURITE_BLOB_PORT"] = $"{blob}",
            ["AZURITE_QUEUE_PORT"] = $"{queue}",
            ["AZURITE_TABLE_PORT"] = $"{table}",
            ["SILO_PORT_BASE"] = $"{siloBase}",
            ["GATEWAY_PORT_BASE"] = $"{gatewayBase}",
            ["VAULT_DATA_DIR"] = data.FullName,
            ["VAULT_ADMIN_TOKEN"] = AdminToken,
            ["RUN_SKIP_BUILD"] = "1",
            // Every process run.sh starts inherits it: how cleanup finds them whatever happened.
            ["VAULTGRAINS_RUN_MARKER"] = marker,
        })
        {
            start.Environment[key] = value;
        }

        using var runSh = Process.Start(start)!;
        ChildProcess.KillOnExit(runSh);
        runSh.OutputDataReceived += (_, e) => Keep(log, e.Data);
        runSh.ErrorDataReceived += (_, e) => Keep(log, e.Data);
        runSh.BeginOutputReadLine();
        runSh.BeginErrorReadLine();
        var api = new Uri($"http://127.0.0.1:{port}");
        SecretLoad? load = null;
        try
        {
            await ProcessCluster.WaitUntilAsync(async () => runSh.HasExited || await ProcessCluster.IsHealthyAsync(new Uri(api, "/healthz")), TimeSpan.FromSeconds(90), "run.sh did not become healthy");
            Assert.False(runSh.HasExited, "run.sh exited during start-up");
            var (client, vaults) = await NewTenantAsync(api, vaults: 9);
            load = SecretLoad.Start(client, vaults);
            await load.WaitForCreatesAsync(vaults, TimeSpan.Zero, TimeSpan.FromSeconds(30));

            var pidFile = Path.Combine(data.FullName, "run", "silo2.pid");
            var victim = int.Parse(await File.ReadAllTextAsync(pidFile));
            var killedAt = load.Now;
            Process.GetProcessById(victim).Kill();

            // Every vault, those of the dead silo included, takes creates again, while run.sh stays up.
            await load.WaitForCreatesAsync(vaults, killedAt, TimeSpan.FromSeconds(45));
            var servedAgain = vaults.Max(v => load.FirstCreateAfter(v, killedAt)!.Value) - killedAt;
            Assert.False(runSh.HasExited, "run.sh stopped when a silo died");

            // The replacement: a new process on the same ports, an Active member beside the other two.
            await ProcessCluster.WaitUntilAsync(() => Task.FromResult(File.Exists(pidFile) && File.ReadAllText(pidFile).Trim() != $"{victim}"), TimeSpan.FromSeconds(30), "no replacement was started");
            var members = new TableClient(TestStorage.BuildConnectionString(blob, queue, table), "vaultgrainscluster");
            var rejoinedAt = load.Now;
            await ProcessCluster.WaitUntilAsync(() => Task.FromResult(ActiveSiloPorts(members).Count(p => p == siloBase + 1) == 1 && ActiveSiloPorts(members).Count == 3), TimeSpan.FromSeconds(60), "the replacement did not join as an Active member");
            var joined = load.Now - killedAt;
            await Task.Delay(TimeSpan.FromSeconds(1));
            await load.StopAsync();

            var counts = await load.VerifyAsync(client, TimeSpan.FromSeconds(20));
            Assert.True(counts.GetValueOrDefault(201) > 0);
            Assert.Contains(log, line => line.Contains("silo 2 (pid", StringComparison.Ordinal) && line.Contains("was killed by signal 9; 2 of 3 silos still running and serving", StringComparison.Ordinal));

            // Ctrl-C/SIGTERM still stops everything in order, and nothing run.sh started outlives it.
            var stopping = Stopwatch.StartNew();
            ChildProcess.Terminate(runSh);
            using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(40)))
            {
                await runSh.WaitForExitAsync(grace.Token);
            }

            Assert.Equal(0, runSh.ExitCode);
            await ProcessCluster.WaitUntilAsync(() => Task.FromResult(Marked(marker).Count == 0), TimeSpan.FromSeconds(5), "processes of run.sh outlived it");
            output.WriteLine($"run.sh SIGKILL of silo 2 under load: every vault writable again {servedAgain.TotalSeconds:F1} s after, replacement Active {joined.TotalSeconds:F1} s after; " +
                $"answers {string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Value} x {c.Key}"))}; stopped in {stopping.Elapsed.TotalSeconds:F1} s");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n--- run.sh ---\n{string.Join('\n', log.TakeLast(150))}");
        }
        finally
        {
            if (load is not null)
            {
                await load.StopAsync();
            }

            if (!runSh.HasExited)
            {
                ChildProcess.Terminate(runSh);
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await runSh.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                    ChildProcess.KillQuietly(runSh);
                }
            }

            foreach (var pid in Marked(marker))
            {
                try
                {
                    Process.GetProcessById(pid).Kill();
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                {
                }
            }

            data.Delete(recursive: true);
        }
    }

    private static List<int> ActiveSiloPorts(TableClient members) =>
        members.Query<TableEntity>(e => e.RowKey != "VersionRow")
            .Where(e => e.GetString("Status") == "Active")
            .Select(e => int.Parse(e.GetString("Port")))
            .ToList();

    // The processes whose environment carries the marker (run.sh and everything it started).
    private static List<int> Marked(string marker)
    {
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(directory, "environ")).Contains($"VAULTGRAINS_RUN_MARKER={marker}", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return found;
    }

    private static async Task<(HttpClient Client, string[] VaultIds)> NewTenantAsync(Uri api, int vaults)
    {
        using var admin = new HttpClient { BaseAddress = api };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        var organization = await ReadAsync(await admin.PostAsJsonAsync("/api/admin/v1/organizations", new { name = "Supervised" }));
        var key = await ReadAsync(await admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organization.GetProperty("id").GetString()}/api-keys", new { name = "load" }));
        var client = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key.GetProperty("key").GetString());
        var ids = new string[vaults];
        for (var i = 0; i < vaults; i++)
        {
            ids[i] = (await ReadAsync(await client.PostAsJsonAsync("/api/public/v1/vaults", new { name = $"v{i}" }))).GetProperty("id").GetString()!;
        }

        return (client, ids);
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static void Keep(ConcurrentQueue<string> log, string? line)
    {
        if (line is null)
        {
            return;
        }

        log.Enqueue(line);
        while (log.Count > 2000 && log.TryDequeue(out _))
        {
        }
    }
}
