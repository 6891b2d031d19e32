using System.Collections.Concurrent;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// Makes the next calls of a method to a chosen vault answer <see cref="VaultError.Unavailable"/>
/// without running it, as an activation that found its view of storage stale does. The API retries
/// such a call; the grain runtime is done with the first attempt's request once it has answered.
/// </summary>
public sealed class VaultCallFaults : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<(string Vault, string Method), int> Failing = new();
    private static readonly ConcurrentDictionary<(string Vault, string Method), int> Failed = new();

    public static void FailNext(string vaultId, string method, int count) => Failing[(vaultId, method)] = count;

    /// <summary>How many calls of <paramref name="method"/> to the vault were answered stale.</summary>
    public static int FailedCount(string vaultId, string method) => Failed.GetValueOrDefault((vaultId, method));

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.DeclaringType == typeof(IVaultGrain)
            && (Vault: context.TargetId.Key.ToString()!, Method: context.InterfaceMethod.Name) is var call
            && Failing.TryGetValue(call, out var left) && left > 0
            && Failing.TryUpdate(call, left - 1, left))
        {
            Failed.AddOrUpdate(call, 1, (_, n) => n + 1);
            var reply = context.InterfaceMethod.ReturnType.GetGenericArguments().Single();
            context.Result = reply.GetMethod(nameof(VaultReply<object>.Fail))!.Invoke(null, [VaultError.Unavailable, 0]);
            return Task.CompletedTask;
        }

        return context.Invoke();
    }
}
