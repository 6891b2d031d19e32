using System.Collections.Concurrent;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>Makes the next vault summaries sent to chosen organizations fail, as an unreachable organization grain would.</summary>
public sealed class OrganizationReportFaults : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<string, int> Failing = new();
    private static readonly ConcurrentDictionary<string, int> Refused = new();

    public static void FailNext(string organizationId, int count) => Failing[organizationId] = count;

    /// <summary>How many summaries to this organization were refused.</summary>
    public static int RefusedCount(string organizationId) => Refused.GetValueOrDefault(organizationId);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.Name == nameof(IOrganizationGrain.VaultChanged)
            && context.TargetId.Key.ToString() is { } organizationId
            && Failing.TryGetValue(organizationId, out var left) && left > 0
            && Failing.TryUpdate(organizationId, left - 1, left))
        {
            Refused.AddOrUpdate(organizationId, 1, (_, n) => n + 1);
            throw new TimeoutException($"Injected: organization {organizationId} did not take the summary.");
        }

        return context.Invoke();
    }
}
