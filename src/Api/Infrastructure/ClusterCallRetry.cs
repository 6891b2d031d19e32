using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Orleans.CodeGeneration;
using Orleans.Runtime.Messaging;
using Orleans.Serialization;
using Orleans.Serialization.Invocation;

namespace VaultGrains.Api;

/// <summary>How long the API waits for the cluster (section <c>ClusterCalls</c>).</summary>
public sealed class ClusterCallOptions
{
    public const string Section = "ClusterCalls";

    /// <summary>
    /// One attempt's limit (Orleans' response timeout, default 30 s). A call sent to a silo that
    /// was just killed gets no answer at all, so this is how long such an attempt is lost; a
    /// healthy call, even a cold activation of a large vault, takes a fraction of it.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long after its first attempt a failed call may still be retried: long enough to ride out
    /// a failover (a killed silo's vaults are back within about 4 s), short enough that a request
    /// is answered, at worst with a 503, within <see cref="RequestDeadline"/> (10 s).
    /// </summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>The longest one grain call can take, retries included: the last retry starts before <see cref="RetryFor"/> ends and gets <see cref="Timeout"/>.</summary>
    public TimeSpan RequestDeadline => RetryFor + ClusterCallRetry.MaxBackoff + Timeout;
}

internal sealed class ClusterCallOptionsValidator : IValidateOptions<ClusterCallOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterCallOptions options)
    {
        var failures = new List<string>();
        if (options.Timeout < TimeSpan.FromMilliseconds(500) || options.Timeout > TimeSpan.FromSeconds(60))
        {
            failures.Add("ClusterCalls:Timeout must be between 00:00:00.5 and 00:01:00.");
        }

        if (options.RetryFor < TimeSpan.Zero || options.RetryFor > TimeSpan.FromSeconds(60))
        {
            failures.Add("ClusterCalls:RetryFor must be between 00:00:00 (no retries) and 00:01:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// Retries a grain call that failed for a reason a retry can cure (a silo died or is leaving, a
/// connection failed, a call timed out, a vault refused because its view of storage was stale),
/// within <see cref="ClusterCallOptions.RetryFor"/>, with jittered exponential backoff.
/// <para>
/// Whether a failed call may be sent again depends on what it does. Calls that are safe to repeat
/// (reads; creates keyed by the id the API chose, which the grains answer idempotently; updates
/// that set a value) are retried even when their outcome is unknown. Every other call (deletes,
/// admin writes) is retried only when it certainly never reached a grain: a message rejection,
/// a failed connection. Otherwise the caller gets a 503 and decides.
/// </para>
/// <para>
/// Every attempt after the first is a new call carrying the arguments the caller passed. The first
/// attempt's request object cannot be sent again: a call delivered within this process (the API
/// hosting the silo) hands the grain that very object, and Orleans clears its arguments once the
/// grain has run, or later still when an attempt timed out while the grain was busy. Sent again, it
/// would reach the grain with null arguments (a listing by organization null answers "vault not
/// found").
/// </para>
/// </summary>
internal sealed class ClusterCallRetry(
    IOptions<ClusterCallOptions> options,
    DeepCopier copier,
    IServiceProvider services,
    ILogger<ClusterCallRetry> logger) : IOutgoingGrainCallFilter
{
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly Counter<long> Retries = ApiMetrics.Meter.CreateCounter<long>("vaultgrains.cluster_call.retries", description: "Grain calls sent again after a transient failure.");
    private static readonly Counter<long> GaveUp = ApiMetrics.Meter.CreateCounter<long>("vaultgrains.cluster_call.gave_up", description: "Grain calls that still failed when the retry budget ran out (answered 503).");

    // Safe to repeat whatever happened to an earlier attempt. Anything not listed is not.
    private static readonly Dictionary<Type, HashSet<string>> Repeatable = new()
    {
        [typeof(IVaultGrain)] = [nameof(IVaultGrain.Create), nameof(IVaultGrain.Get), nameof(IVaultGrain.Update), nameof(IVaultGrain.CreateSecret),
            nameof(IVaultGrain.ListSecrets), nameof(IVaultGrain.ListSecretsJson), nameof(IVaultGrain.GetSecret), nameof(IVaultGrain.UpdateSecret), nameof(IVaultGrain.Rewrap)],
        [typeof(IOrganizationGrain)] = [nameof(IOrganizationGrain.Get), nameof(IOrganizationGrain.CreateVault), nameof(IOrganizationGrain.ListVaults),
            nameof(IOrganizationGrain.GetVaultIds), nameof(IOrganizationGrain.ListApiKeys), nameof(IOrganizationGrain.CreateRuntime), nameof(IOrganizationGrain.ListRuntimes),
            nameof(IOrganizationGrain.IsDisabled), nameof(IOrganizationGrain.GetCredentialRecords), nameof(IOrganizationGrain.Update)],
        [typeof(IRuntimeGrain)] = [nameof(IRuntimeGrain.Get), nameof(IRuntimeGrain.Update), nameof(IRuntimeGrain.Release), nameof(IRuntimeGrain.CheckStamp),
            nameof(IRuntimeGrain.Owner)],
        [typeof(IAuditTrailGrain)] = [nameof(IAuditTrailGrain.Query), nameof(IAuditTrailGrain.Verify)],
        [typeof(IProxyAuthorityGrain)] = [nameof(IProxyAuthorityGrain.GetCertificatePem), nameof(IProxyAuthorityGrain.GetSigningAuthority)],
        [typeof(IApiKeyGrain)] = [nameof(IApiKeyGrain.Resolve), nameof(IApiKeyGrain.Standing)],
        [typeof(IOrganizationDirectoryGrain)] = [nameof(IOrganizationDirectoryGrain.List)],
        // Every call names its attempt, so a repeat finds the claim or the answer it already made.
        [typeof(IIdempotencyGrain)] = [nameof(IIdempotencyGrain.Begin), nameof(IIdempotencyGrain.WaitForOutcome), nameof(IIdempotencyGrain.Complete), nameof(IIdempotencyGrain.Release)],
        [typeof(IManagementGrain)] = [nameof(IManagementGrain.GetHosts), nameof(IManagementGrain.GetDetailedHosts), nameof(IManagementGrain.GetActivationAddress)],
    };

    private static readonly ConcurrentDictionary<Type, PropertyInfo?> ReplyErrors = new();

    // The requests this filter sent as later attempts: they pass through it as they are.
    private static readonly ConditionalWeakTable<IInvokable, object> LaterAttempts = [];

    // Resolved on first use: the runtime is built with the call filters, this one among them.
    private IGrainReferenceRuntime? runtime;

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        if (LaterAttempts.TryGetValue(context.Request, out _))
        {
            await context.Invoke();
            return;
        }

        var repeatable = IsRepeatable(context.InterfaceMethod);
        var arguments = ArgumentsOf(context.Request);
        var budget = options.Value.RetryFor;
        var started = Environment.TickCount64;
        var backoff = FirstBackoff;
        for (var attempt = 1; ; attempt++)
        {
            Exception? failure;
            var thrown = false;
            object? result = null;
            try
            {
                if (attempt == 1)
                {
                    await context.Invoke();
                    failure = context.Response?.Exception;
                    result = failure is null ? context.Result : null;
                }
                else
                {
                    result = await SendAgainAsync(context, arguments);
                    context.Result = result;
                    failure = null;
                }
            }
            catch (Exception e)
            {
                failure = e;
                thrown = true;
            }

            var retryable = failure is null
                ? repeatable && IsStaleReply(result)
                : repeatable ? IsTransient(failure) : NeverDelivered(failure);
            if (!retryable)
            {
                RethrowIf(thrown, failure);
                return;
            }

            var elapsed = TimeSpan.FromMilliseconds(Environment.TickCount64 - started);
            if (elapsed + backoff > budget)
            {
                GaveUp.Add(1);
                logger.LogDebug("{Interface}.{Method} still failing after {Attempts} attempt(s) in {Elapsed}: {Failure}",
                    context.InterfaceName, context.MethodName, attempt, elapsed, failure?.GetType().Name ?? "stale reply");
                RethrowIf(thrown, failure);
                return;
            }

            Retries.Add(1);
            await Task.Delay(backoff * (0.5 + Random.Shared.NextDouble() / 2));
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    private static object?[] ArgumentsOf(IInvokable request)
    {
        var arguments = new object?[request.GetArgumentCount()];
        for (var i = 0; i < arguments.Length; i++)
        {
            arguments[i] = request.GetArgument(i);
        }

        return arguments;
    }

    // A new request of the same method, with the caller's arguments, through the whole pipeline
    // again (so each attempt still gets its own timeout).
    private async Task<object?> SendAgainAsync(IOutgoingGrainCallContext context, object?[] arguments)
    {
        var request = copier.Copy(context.Request);
        for (var i = 0; i < arguments.Length; i++)
        {
            request.SetArgument(i, arguments[i]!);
        }

        LaterAttempts.AddOrUpdate(request, request);
        runtime ??= services.GetRequiredService<IGrainReferenceRuntime>();
        var options = request is IRequest described ? described.Options : InvokeMethodOptions.None;
        return await runtime.InvokeMethodAsync<object>((GrainReference)context.Grain, request, options);
    }

    internal static bool IsRepeatable(MethodInfo method) =>
        method.DeclaringType is { } type && Repeatable.TryGetValue(type, out var methods) && methods.Contains(method.Name);

    /// <summary>Certainly not processed by any grain: the runtime refused to deliver it, or it was never sent.</summary>
    internal static bool NeverDelivered(Exception e) => e switch
    {
        SiloUnavailableException => false,
        OrleansMessageRejectionException or ConnectionFailedException or GatewayTooBusyException => true,
        _ => false,
    };

    /// <summary>A failure of the cluster rather than of the request: another attempt may succeed.</summary>
    internal static bool IsTransient(Exception e) =>
        NeverDelivered(e) || e is SiloUnavailableException or TimeoutException;

    /// <summary>A vault answered <see cref="VaultError.Unavailable"/>: it wrote nothing and deactivated to reload the truth.</summary>
    private static bool IsStaleReply(object? result)
    {
        if (result is null)
        {
            return false;
        }

        var error = ReplyErrors.GetOrAdd(result.GetType(), type =>
            type.IsGenericType && type.GetGenericTypeDefinition() == typeof(VaultReply<>) ? type.GetProperty(nameof(VaultReply<object>.Error)) : null);
        // Both mean nothing was written: a stale activation, or a trail that could not record the change.
        return error?.GetValue(result) is VaultError.Unavailable or VaultError.AuditUnavailable;
    }

    // A failure carried in the response reaches the caller from there; one that was thrown is thrown on.
    private static void RethrowIf(bool thrown, Exception? failure)
    {
        if (thrown && failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }
}
