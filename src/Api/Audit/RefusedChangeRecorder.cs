namespace VaultGrains.Api.Audit;

/// <summary>
/// Records refused and failed changes (4xx, 5xx) in the caller's organization's trail. Successful
/// changes are recorded by the grain that makes them, durably and before they are acknowledged; a
/// refusal changed nothing, so its event is written after the answer is known and its loss only logged.
/// </summary>
internal sealed class RefusedChangeRecorder(IGrainFactory grains, ILogger<RefusedChangeRecorder> logger)
{
    // The endpoints that change something, and the action each one's events carry.
    private static readonly Dictionary<string, string> Actions = new(StringComparer.Ordinal)
    {
        ["CreateVault"] = "vault.create",
        ["UpdateVault"] = "vault.update",
        ["DeleteVault"] = "vault.delete",
        ["CreateSecret"] = "secret.create",
        ["UpdateSecret"] = "secret.update",
        ["DeleteSecret"] = "secret.delete",
        ["CreateRuntime"] = "runtime.create",
        ["UpdateRuntime"] = "runtime.update",
        ["RotateRuntimeToken"] = "runtime.token_rotate",
        ["DeleteRuntime"] = "runtime.delete",
        ["CreateApiKey"] = "api_key.create",
        ["RevokeApiKey"] = "api_key.revoke",
        ["UpdateOrganization"] = "organization.update",
    };

    /// <summary>For the public API: the caller's organization.</summary>
    public ValueTask<object?> FilterPublicAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        FilterAsync(context, next, AuditRoute.CallerOrganization);

    /// <summary>For the admin API: the organization in the route, when it exists.</summary>
    public ValueTask<object?> FilterAdminAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        FilterAsync(context, next, AuditRoute.RouteOrganization);

    private async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next, Func<HttpContext, string?> organizationOf)
    {
        var result = await next(context);
        var http = context.HttpContext;
        if (result is not IStatusCodeHttpResult { StatusCode: >= 400 and not 401 and var status }
            || AuditRoute.EndpointName(http) is not { } name
            || !Actions.TryGetValue(name, out var action)
            || organizationOf(http) is not { } organizationId
            || (status == StatusCodes.Status404NotFound && result is IValueHttpResult { Value: ErrorBody { Error: "organization not found" } }))
        {
            return result;
        }

        var entry = new AuditEntry(AuditActor.Current, action, AuditRoute.OutcomeOf(status), status, AuditRoute.Resource(http),
            result is IValueHttpResult { Value: ErrorBody error } ? new Dictionary<string, string> { ["error"] = error.Error } : null);
        try
        {
            if (await grains.ReferenceTo<IAuditTrailGrain>(organizationId).Append([entry]) != VaultError.None)
            {
                logger.LogWarning("A refused {Action} ({Status}) was not recorded: the audit trail is unavailable", action, status);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("A refused {Action} ({Status}) was not recorded: {Error}", action, status, e.GetType().Name);
        }

        return result;
    }
}
