using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace VaultGrains.Silo.Telemetry;

/// <summary>
/// Counts vault and secret creates, updates and deletes as the vault grain answers them, by method
/// and outcome (the reply's <see cref="VaultError"/>, <c>exception</c> when the call threw), and
/// times them. Seen from outside the grain, as an incoming call filter: the grain stays about its rules.
/// </summary>
internal sealed partial class VaultChangeMetricsFilter : IIncomingGrainCallFilter
{
    private static readonly HashSet<string> ChangeMethods =
    [
        nameof(IVaultGrain.Create), nameof(IVaultGrain.Update), nameof(IVaultGrain.Delete),
        nameof(IVaultGrain.CreateSecret), nameof(IVaultGrain.UpdateSecret), nameof(IVaultGrain.DeleteSecret),
    ];

    private static readonly Dictionary<VaultError, string> Outcomes = Enum.GetValues<VaultError>()
        .ToDictionary(e => e, e => e == VaultError.None ? "success" : SnakeCase().Replace(e.ToString(), "$1_$2").ToLowerInvariant());

    private static readonly ConcurrentDictionary<Type, Func<object, VaultError>?> ReplyErrors = new();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.Request.GetInterfaceType() != typeof(IVaultGrain) || context.Request.GetMethodName() is not { } method || !ChangeMethods.Contains(method))
        {
            await context.Invoke();
            return;
        }

        var started = Stopwatch.GetTimestamp();
        string outcome = "exception";
        try
        {
            await context.Invoke();
            outcome = Outcome(context.Result);
            if (outcome == "success")
            {
                VaultBatches.Acknowledged(context.TargetContext);
            }
        }
        finally
        {
            var tags = new TagList { { "method", method }, { "outcome", outcome } };
            SiloMetrics.Changes.Add(1, tags);
            SiloMetrics.ChangeDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
        }
    }

    private static string Outcome(object? result)
    {
        var error = result is null ? null : ReplyErrors.GetOrAdd(result.GetType(), static type =>
        {
            if (!type.IsGenericType || type.GetGenericTypeDefinition() != typeof(VaultReply<>))
            {
                return null;
            }

            var property = type.GetProperty(nameof(VaultReply<object>.Error))!;
            return reply => (VaultError)property.GetValue(reply)!;
        });
        return error is null ? "success" : Outcomes.GetValueOrDefault(error(result!), "other");
    }

    [GeneratedRegex("([a-z0-9])([A-Z])")]
    private static partial Regex SnakeCase();
}

/// <summary>
/// Group-commit batch sizes, seen from outside the grain: every change a vault acknowledges follows
/// the write of its batch, so the changes acknowledged between one write of an activation and the
/// next are that first write's batch. The size is recorded when the next write completes (the last
/// batch of an activation is not recorded). Keyed by the activation, so nothing outlives it.
/// </summary>
internal static class VaultBatches
{
    private static readonly ConditionalWeakTable<object, Counter> Acks = new();

    public static void Acknowledged(object? activation)
    {
        if (activation is not null)
        {
            Interlocked.Increment(ref Acks.GetOrCreateValue(activation).Count);
        }
    }

    public static void WriteCompleted(object? activation)
    {
        if (activation is not null && Acks.TryGetValue(activation, out var counter) && Interlocked.Exchange(ref counter.Count, 0) is > 0 and var size)
        {
            SiloMetrics.BatchSize.Record(size);
        }
    }

    private sealed class Counter
    {
        public int Count;
    }
}
