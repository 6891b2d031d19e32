using System.Diagnostics;

namespace VaultGrains.Bench.Load;

/// <summary>One target with the vaults set up for the scenarios and the ledger of what it acknowledged.</summary>
internal sealed class TargetState(ApiTarget api)
{
    public ApiTarget Api { get; } = api;

    public string Name => Api.Name;

    public VaultSupply Supply { get; } = new(api, api.Name);

    public Ledger Ledger { get; } = new();

    public VaultSlot[] Spread { get; private set; } = [];

    public BenchVault? ListVault { get; private set; }

    public List<(int Secrets, BenchVault Vault)> Growth { get; } = [];

    public TimeSpan SetupTime { get; private set; }

    public async Task SetupAsync(BenchSettings settings)
    {
        var clock = Stopwatch.StartNew();
        if (settings.Runs("spread") || settings.Runs("mix"))
        {
            Spread = (await Supply.CreateAsync(settings.SpreadVaults, "spread")).Select(v => new VaultSlot(Supply, v)).ToArray();
        }

        if (settings.Runs("list") || settings.Runs("mix"))
        {
            ListVault = (await Supply.CreateAsync(1, "list"))[0];
            await FillAsync(ListVault, settings.ListSecrets, "L");
        }

        if (settings.Runs("growth"))
        {
            // A create must fit: with c connections the largest level leaves room for c in flight.
            foreach (var level in new[] { 1, 100, Domain.SecretRules.MaxSecretsPerVault - settings.GrowthConnections })
            {
                var vault = (await Supply.CreateAsync(1, $"growth-{level}"))[0];
                await FillAsync(vault, level, "G");
                Growth.Add((level, vault));
            }
        }

        SetupTime = clock.Elapsed;
    }

    /// <summary>Creates <paramref name="count"/> secrets in the vault, a few at a time, and checks they are all listed.</summary>
    public async Task FillAsync(BenchVault vault, int count, string prefix)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            for (var attempt = 1; ; attempt++)
            {
                var reply = await Api.CreateSecretAsync(vault, $"{prefix}_{i}", Values.Of(32, prefix, 0, i));
                if (reply.Status == CreateStatus.Created)
                {
                    Ledger.Acknowledged(vault, reply.SecretId!);
                    return;
                }

                if (reply.Status == CreateStatus.EnvKeyExists && attempt > 1)
                {
                    return; // an earlier attempt that failed without an answer had landed
                }

                if (reply.Status == CreateStatus.Failed && attempt < 5)
                {
                    Ledger.Unknown(vault);
                    await Task.Delay(100 * attempt);
                    continue;
                }

                throw new InvalidOperationException($"{Name}: filling vault {vault.Id} failed: {reply.Status} {reply.Failure}");
            }
        });

        var listed = (await Api.ListSecretIdsAsync(vault)).Count;
        if (listed != count)
        {
            throw new InvalidOperationException($"{Name}: vault {vault.Id} lists {listed} secrets after {count} creates.");
        }
    }

    /// <summary>One timed create; the ledger learns what was acknowledged.</summary>
    public async ValueTask<Outcome> CreateAsync(BenchVault vault, string envKey, string value, string? kind = null)
    {
        var began = Stopwatch.GetTimestamp();
        CreateReply reply;
        try
        {
            reply = await Api.CreateSecretAsync(vault, envKey, value);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Ledger.Unknown(vault);
            return Outcome.Error(Stopwatch.GetTimestamp() - began, e.GetType().Name, kind);
        }

        var elapsed = Stopwatch.GetTimestamp() - began;
        switch (reply.Status)
        {
            case CreateStatus.Created:
                Ledger.Acknowledged(vault, reply.SecretId!);
                return Outcome.Success(elapsed, kind);
            case CreateStatus.Failed:
                Ledger.Unknown(vault);
                return Outcome.Error(elapsed, reply.Failure!, kind);
            default:
                return Outcome.Error(elapsed, reply.Status.ToString(), kind);
        }
    }
}

internal static class Values
{
    /// <summary>A value of the given length that no other request of the run sends.</summary>
    public static string Of(int bytes, string scenario, int worker, long sequence)
    {
        var unique = $"{scenario}-{worker}-{sequence}-";
        return unique.Length >= bytes ? unique : unique + new string('x', bytes - unique.Length);
    }
}
