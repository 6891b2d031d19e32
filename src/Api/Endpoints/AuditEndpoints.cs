using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Mvc;
using VaultGrains.Domain;

namespace VaultGrains.Api.Endpoints;

/// <summary>
/// The audit trail: the caller's own (<c>/api/public/v1/audit-events</c>), and for the operator any
/// organization's and the system trail (what belongs to no organization), with verification.
/// </summary>
internal static class AuditEndpoints
{
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;

    public static RouteGroupBuilder MapAuditEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/audit-events", ListOwn).WithName("ListAuditEvents").WithTags("Audit")
            .WithSummary("The organization's audit trail")
            .Produces<AuditEventsResponse>()
            .ProducesErrors(400, 401, 503)
            .WithDescription($"Newest first. `limit` (1–{MaxLimit}, default {DefaultLimit}), `before` (an event id, from `next`), `vault_id`, `action`, `since` (timestamp). "
                + "`next` is null at the end. Each event carries `previous_hash` and `hash` (the hash chain).");
        return api;
    }

    public static RouteGroupBuilder MapAdminAuditEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/organizations/{org_id}/audit-events", ListOrganization).WithName("ListOrganizationAuditEvents")
            .WithSummary("An organization's audit trail")
            .Produces<AuditEventsResponse>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("As `GET /api/public/v1/audit-events`, for any organization.");
        admin.MapGet("/organizations/{org_id}/audit-events/verify", Verify).WithName("VerifyOrganizationAuditEvents")
            .WithSummary("Check an organization's hash chain")
            .Produces<AuditVerificationResponse>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Reads every retained event from storage and checks each one's hash and link to the one before. "
                + "`first_broken` names the first event that fails (edited, removed before, or reordered), or is null.");
        admin.MapGet("/audit-events", ListSystem).WithName("ListSystemAuditEvents")
            .WithSummary("The system audit trail")
            .Produces<AuditEventsResponse>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Events that belong to no organization, with `organization_id` null: `auth.failed` summaries of failed "
                + "authentications that cannot be attributed to one (missing, malformed or unknown credentials, the admin token). "
                + "Parameters and page as `GET /api/public/v1/audit-events`. No public API key can read it.");
        admin.MapGet("/audit-events/verify", VerifySystem).WithName("VerifySystemAuditEvents")
            .WithSummary("Check the system trail's hash chain")
            .Produces<AuditVerificationResponse>()
            .ProducesErrors(401, 404, 503)
            .WithDescription("As `GET /api/admin/v1/organizations/{org_id}/audit-events/verify`, for the system trail.");
        return admin;
    }

    private static Task<IResult> ListOwn(HttpContext http, IGrainFactory grains) =>
        ListAsync(http, grains, ApiKeyAuthentication.CallerOrganization(http));

    private static async Task<IResult> ListOrganization([FromRoute(Name = "org_id")] string organizationId, HttpContext http, IGrainFactory grains)
    {
        if (await OrganizationErrorAsync(organizationId, grains) is { } error)
        {
            return error;
        }

        return await ListAsync(http, grains, organizationId);
    }

    private static Task<IResult> ListSystem(HttpContext http, IGrainFactory grains) => ListAsync(http, grains, SystemAuditTrail.Key);

    private static async Task<IResult> Verify([FromRoute(Name = "org_id")] string organizationId, IGrainFactory grains)
    {
        if (await OrganizationErrorAsync(organizationId, grains) is { } error)
        {
            return error;
        }

        return await VerifyAsync(grains, organizationId);
    }

    private static Task<IResult> VerifySystem(IGrainFactory grains) => VerifyAsync(grains, SystemAuditTrail.Key);

    private static async Task<IResult> VerifyAsync(IGrainFactory grains, string trail)
    {
        var verification = await grains.ReferenceTo<IAuditTrailGrain>(trail).Verify();
        return verification.Error == VaultError.None
            ? ApiResults.Ok(new AuditVerificationResponse(verification.Verified, verification.FirstBroken))
            : ApiResults.From(verification.Error);
    }

    private static async Task<IResult?> OrganizationErrorAsync(string organizationId, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(organizationId, ResourceId.Organization))
        {
            return ApiResults.BadRequest("invalid org_id");
        }

        var organization = await grains.ReferenceTo<IOrganizationGrain>(organizationId).Get();
        return organization.Succeeded ? null : ApiResults.From(organization.Error);
    }

    /// <param name="trail">An organization id, or the system trail's key.</param>
    private static async Task<IResult> ListAsync(HttpContext http, IGrainFactory grains, string trail)
    {
        if (ReadQuery(http.Request.Query) is not { } query)
        {
            return QueryError(http.Request.Query);
        }

        var page = await grains.ReferenceTo<IAuditTrailGrain>(trail).Query(query);
        if (!page.Succeeded)
        {
            return ApiResults.From(page.Error);
        }

        // The events are already JSON, exactly as stored and chained: written out as they are.
        var body = new StringBuilder("{\"events\":[");
        body.AppendJoin(',', page.Value!.Events);
        body.Append("],\"next\":").Append(page.Value.Next is { } next ? $"\"{next}\"" : "null").Append('}');
        return Results.Content(body.ToString(), "application/json", Encoding.UTF8);
    }

    private static AuditQuery? ReadQuery(IQueryCollection query)
    {
        var limit = DefaultLimit;
        if (query.TryGetValue("limit", out var limitText) && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
        {
            return null;
        }

        string? before = query["before"];
        string? vaultId = query["vault_id"];
        string? action = query["action"];
        DateTime? since = null;
        if (query["since"] is { Count: > 0 } sinceText)
        {
            if (!DateTime.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed))
            {
                return null;
            }

            since = parsed;
        }

        if ((before is not null && !ResourceId.IsValid(before, ResourceId.Event)) || (vaultId is not null && !ResourceId.IsValid(vaultId, ResourceId.Vault))
            || (action is not null && !AuditActions.All.Contains(action)))
        {
            return null;
        }

        return new AuditQuery(limit, before, vaultId, action, since);
    }

    // The first parameter that is wrong, named.
    private static IResult QueryError(IQueryCollection query)
    {
        if (query.ContainsKey("limit") && !(int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= MaxLimit))
        {
            return ApiResults.BadRequest($"limit must be between 1 and {MaxLimit}");
        }

        if (query.ContainsKey("before") && !ResourceId.IsValid(query["before"], ResourceId.Event))
        {
            return ApiResults.BadRequest("invalid before");
        }

        if (query.ContainsKey("vault_id") && !ResourceId.IsValid(query["vault_id"], ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        if (query.ContainsKey("action") && !AuditActions.All.Contains(query["action"].ToString()))
        {
            return ApiResults.BadRequest("invalid action");
        }

        return ApiResults.BadRequest("since must be a timestamp (YYYY-MM-DDTHH:MM:SS.fffZ)");
    }
}

/// <summary>The actions of API.md's audit trail, and the reads recorded under <c>Audit:Reads</c>.</summary>
internal static class AuditActions
{
    public static readonly HashSet<string> All = new(StringComparer.Ordinal)
    {
        "vault.create", "vault.update", "vault.delete", "secret.create", "secret.update", "secret.delete",
        "runtime.create", "runtime.update", "runtime.delete", "runtime.token_rotate", "api_key.create", "api_key.revoke",
        "organization.create", "organization.update", "secret.release", "auth.failed",
        "vault.list", "vault.read", "secret.list", "secret.read", "runtime.list", "runtime.read", "runtime.environment_read",
        "organization.read", "api_key.list", "audit.list", "audit.verify",
    };
}
