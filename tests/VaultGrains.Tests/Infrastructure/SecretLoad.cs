using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>What one create-secret request got, and when (relative to the start of the load).</summary>
public sealed record CreateOutcome(string VaultId, string EnvKey, int Status, string Body, bool HasRetryAfter, string? SecretId, TimeSpan Started, TimeSpan Finished, string? Failure)
{
    public bool Created => Status == 201;

    public override string ToString() => $"{VaultId}/{EnvKey}: {(Failure ?? $"{Status} {Body}")} [{Started.TotalSeconds:F2}s-{Finished.TotalSeconds:F2}s]";
}

/// <summary>
/// Concurrent creates through the public API: two workers per vault walk the same sequence of
/// <c>env_key</c>s, so every key is asked for twice at about the same time. Afterwards
/// <see cref="VerifyAsync"/> checks what the issue promises: every answer was 201, 400 duplicate or
/// 503 (service or audit trail unavailable) with Retry-After; every 201 is stored; no <c>env_key</c> is stored twice.
/// </summary>
public sealed class SecretLoad
{
    public const string DuplicateBody = """{"error":"env_key already exists in this vault"}""";
    public const string UnavailableBody = """{"error":"service temporarily unavailable"}""";

    // The organization's audit trail moves with its silo too: while it does, a change is refused
    // (nothing written), retryable like any other 503.
    public const string AuditUnavailableBody = """{"error":"audit trail unavailable"}""";
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<CreateOutcome> outcomes = new();
    private readonly CancellationTokenSource stop = new();
    private readonly Task[] workers;

    private SecretLoad(HttpClient client, IReadOnlyList<string> vaultIds, int workersPerVault, TimeSpan pause)
    {
        workers = vaultIds.SelectMany(vault => Enumerable.Range(0, workersPerVault).Select(_ => Task.Run(() => WorkAsync(client, vault, pause)))).ToArray();
    }

    public TimeSpan Now => clock.Elapsed;

    public IReadOnlyCollection<CreateOutcome> Outcomes => outcomes;

    public static SecretLoad Start(HttpClient client, IReadOnlyList<string> vaultIds, int workersPerVault = 2, TimeSpan? pause = null) =>
        new(client, vaultIds, workersPerVault, pause ?? TimeSpan.FromMilliseconds(20));

    public async Task StopAsync()
    {
        await stop.CancelAsync();
        await Task.WhenAll(workers);
    }

    /// <summary>Waits until every one of the vaults had a 201 that started after <paramref name="since"/>.</summary>
    public async Task WaitForCreatesAsync(IEnumerable<string> vaultIds, TimeSpan since, TimeSpan limit)
    {
        var pending = vaultIds.ToHashSet();
        var deadline = Now + limit;
        while (pending.RemoveWhere(v => outcomes.Any(o => o.VaultId == v && o.Created && o.Started >= since)) >= 0 && pending.Count > 0)
        {
            if (Now > deadline)
            {
                throw new TimeoutException($"No successful create since {since.TotalSeconds:F1}s in vault(s) {string.Join(", ", pending)} within {limit}.");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Per vault, when the first create sent after <paramref name="since"/> had succeeded.</summary>
    public TimeSpan? FirstCreateAfter(string vaultId, TimeSpan since) =>
        outcomes.Where(o => o.VaultId == vaultId && o.Created && o.Started >= since).Select(o => (TimeSpan?)o.Finished).Min();

    /// <summary>Checks every answer and the stored secrets of every vault; returns the counts by status.</summary>
    public async Task<Dictionary<int, int>> VerifyAsync(HttpClient client, TimeSpan responseLimit)
    {
        var all = outcomes.ToArray();
        Assert.NotEmpty(all);
        var failed = all.Where(o => o.Failure is not null).Take(5).ToArray();
        Assert.True(failed.Length == 0, "requests failed without an HTTP answer:\n" + string.Join('\n', failed.Select(o => o.ToString())));
        var unexpected = all.Where(o => !(o.Status == 201 || (o.Status == 400 && o.Body == DuplicateBody) || (o.Status == 503 && o.Body is UnavailableBody or AuditUnavailableBody && o.HasRetryAfter))).Take(5).ToArray();
        Assert.True(unexpected.Length == 0, "answers other than 201, 400 duplicate or 503 with Retry-After:\n" + string.Join('\n', unexpected.Select(o => o.ToString())));
        var slow = all.Where(o => o.Finished - o.Started > responseLimit).Take(5).ToArray();
        Assert.True(slow.Length == 0, $"answers slower than {responseLimit}:\n" + string.Join('\n', slow.Select(o => o.ToString())));

        foreach (var vault in all.GroupBy(o => o.VaultId))
        {
            var response = await client.GetAsync($"/api/public/v1/vaults/{vault.Key}/secrets");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"listing {vault.Key}: {(int)response.StatusCode} {text}");
            var stored = JsonDocument.Parse(text).RootElement.EnumerateArray()
                .Select(s => (Id: s.GetProperty("id").GetString()!, EnvKey: s.GetProperty("env_key").GetString()!)).ToArray();
            var twice = stored.GroupBy(s => s.EnvKey).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
            Assert.True(twice.Length == 0, $"vault {vault.Key} stores env_key(s) twice: {string.Join(", ", twice)}");
            var byId = stored.ToDictionary(s => s.Id, s => s.EnvKey);
            foreach (var created in vault.Where(o => o.Created))
            {
                Assert.True(byId.TryGetValue(created.SecretId!, out var envKey) && envKey == created.EnvKey, $"acknowledged but not stored: {created}");
            }

            // A key acknowledged as a duplicate must really be stored.
            foreach (var duplicate in vault.Where(o => o.Status == 400).Select(o => o.EnvKey).Distinct())
            {
                Assert.Contains(duplicate, byId.Values);
            }
        }

        return all.GroupBy(o => o.Status).ToDictionary(g => g.Key, g => g.Count());
    }

    private async Task WorkAsync(HttpClient client, string vaultId, TimeSpan pause)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var envKey = $"KEY_{i}";
            var started = Now;
            try
            {
                using var response = await client.PostAsJsonAsync($"/api/public/v1/vaults/{vaultId}/secrets", new { env_key = envKey, value = $"value-{i}" });
                var body = await response.Content.ReadAsStringAsync();
                var id = response.StatusCode == HttpStatusCode.Created ? JsonDocument.Parse(body).RootElement.GetProperty("id").GetString() : null;
                outcomes.Enqueue(new CreateOutcome(vaultId, envKey, (int)response.StatusCode, body, response.Headers.RetryAfter is not null, id, started, Now, null));
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
            {
                outcomes.Enqueue(new CreateOutcome(vaultId, envKey, 0, "", false, null, started, Now, $"{e.GetType().Name}: {e.Message}"));
            }

            try
            {
                await Task.Delay(pause, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
