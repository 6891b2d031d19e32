using VaultGrains.Domain;

namespace VaultGrains.Api.Audit;

/// <summary>What the API's own audit events say about a request: its organization and the resource in its route.</summary>
internal static class AuditRoute
{
    /// <summary>The public API: the caller's organization, once authenticated.</summary>
    public static string? CallerOrganization(HttpContext http) =>
        http.Items.ContainsKey(ApiKeyAuthentication.OrganizationItem) ? ApiKeyAuthentication.CallerOrganization(http) : null;

    /// <summary>The admin API: the organization in the route, when well formed.</summary>
    public static string? RouteOrganization(HttpContext http) =>
        http.Request.RouteValues["org_id"] is string id && ResourceId.IsValid(id, ResourceId.Organization) ? id : null;

    public static string? EndpointName(HttpContext http) =>
        http.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName;

    /// <summary>Ids from the route, only when well formed (a malformed one is what was refused).</summary>
    public static AuditResource Resource(HttpContext http)
    {
        string? Route(string name, string prefix) => http.Request.RouteValues[name] is string id && ResourceId.IsValid(id, prefix) ? id : null;
        return new AuditResource(
            VaultId: Route("vault_id", ResourceId.Vault),
            SecretId: Route("secret_id", ResourceId.Secret),
            RuntimeId: Route("runtime_id", ResourceId.Runtime),
            KeyId: Route("key_id", ResourceId.ApiKey));
    }

    public static string OutcomeOf(int status) =>
        status >= 500 ? AuditEntry.Error : status >= 400 ? AuditEntry.Denied : AuditEntry.Success;
}
