using Microsoft.Extensions.Options;
using VaultGrains.Domain;

namespace VaultGrains.Api.Audit;

/// <summary>Whether reads are recorded too (<c>Audit:Reads</c>, off by default).</summary>
public sealed class ReadAuditOptions
{
    public const string Section = "Audit";

    /// <summary>
    /// Records every read (listings, gets, a runtime's environment, audit queries) in the
    /// organization's trail. Fails closed like changes: a read whose event cannot be written is
    /// answered 503, never served unrecorded.
    /// </summary>
    public bool Reads { get; set; }
}

/// <summary>
/// With <c>Audit:Reads</c> on, records each read in the organization's trail before its answer is
/// sent. A served read (2xx) is answered only once its event is durable; a refused read is
/// recorded as denied, and the loss of that event is only logged (it returned nothing).
/// </summary>
internal sealed class ReadRecorder(IGrainFactory grains, IOptions<ReadAuditOptions> options, ILogger<ReadRecorder> logger)
{
    private static readonly Dictionary<string, string> Actions = new(StringComparer.Ordinal)
    {
        ["ListVaults"] = "vault.list",
        ["GetVault"] = "vault.read",
        ["ListSecrets"] = "secret.list",
        ["GetSecret"] = "secret.read",
        ["ListRuntimes"] = "runtime.list",
        ["GetRuntime"] = "runtime.read",
        ["GetRuntimeEnvironment"] = "runtime.environment_read",
        ["ListAuditEvents"] = "audit.list",
        ["GetOrganization"] = "organization.read",
        ["ListApiKeys"] = "api_key.list",
        ["ListOrganizationAuditEvents"] = "audit.list",
        ["VerifyOrganizationAuditEvents"] = "audit.verify",
        ["ListSystemAuditEvents"] = "audit.list",
        ["VerifySystemAuditEvents"] = "audit.verify",
    };

    public ValueTask<object?> FilterPublicAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        options.Value.Reads ? FilterAsync(context, next, AuditRoute.CallerOrganization) : next(context);

    public ValueTask<object?> FilterAdminAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        options.Value.Reads ? FilterAsync(context, next, AdminTrail) : next(context);

    // The organization in the route; reads of the system trail are recorded in the system trail.
    private static string? AdminTrail(HttpContext http) =>
        AuditRoute.RouteOrganization(http)
        ?? (AuditRoute.EndpointName(http) is "ListSystemAuditEvents" or "VerifySystemAuditEvents" ? SystemAuditTrail.Key : null);

    private async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next, Func<HttpContext, string?> organizationOf)
    {
        var result = await next(context);
        var http = context.HttpContext;
        var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : StatusCodes.Status200OK;
        if (AuditRoute.EndpointName(http) is not { } name
            || !Actions.TryGetValue(name, out var action)
            || status is StatusCodes.Status401Unauthorized or >= 500
            || organizationOf(http) is not { } organizationId
            || (status == StatusCodes.Status404NotFound && result is IValueHttpResult { Value: ErrorBody { Error: "organization not found" } }))
        {
            return result;
        }

        var served = status < 400;
        var entry = new AuditEntry(AuditActor.Current, action, AuditRoute.OutcomeOf(status), status, AuditRoute.Resource(http), QueryOf(http));
        try
        {
            if (await grains.ReferenceTo<IAuditTrailGrain>(organizationId).Append([entry]) == VaultError.None)
            {
                return result;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("A {Action} ({Status}) could not be recorded: {Error}", action, status, e.GetType().Name);
        }

        if (!served)
        {
            return result;
        }

        logger.LogWarning("A {Action} was refused: its audit event could not be written", action);
        return ApiResults.From(VaultError.AuditUnavailable);
    }

    // The query's filter names and values (ids, actions, times), not free text: what was asked for.
    private static Dictionary<string, string>? QueryOf(HttpContext http)
    {
        var query = http.Request.Query;
        if (query.Count == 0)
        {
            return null;
        }

        var detail = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { "vault_id", "action", "since", "before", "limit", "format" })
        {
            if (query.TryGetValue(name, out var value) && value.Count == 1 && value[0] is { Length: > 0 and <= 64 } text)
            {
                detail[name] = text;
            }
        }

        return detail.Count == 0 ? null : detail;
    }
}
