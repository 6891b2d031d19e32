using System.Text.Json;
using System.Text.Json.Serialization;
using VaultGrains.Domain;

namespace VaultGrains.Api;

/// <summary>Every error body: exactly <c>{"error":"…"}</c>.</summary>
public sealed record ErrorBody([property: JsonPropertyName("error")] string Error);

/// <summary>The public secret object: these five fields and no others.</summary>
public sealed record SecretResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("env_key")] string EnvKey,
    [property: JsonPropertyName("allowed_domains")] IReadOnlyList<string> AllowedDomains,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt)
{
    public static SecretResponse From(SecretDetails secret) =>
        new(secret.Id, secret.EnvKey, secret.AllowedDomains, Timestamps.Format(secret.CreatedAt), Timestamps.Format(secret.UpdatedAt));
}

/// <summary>The public vault object.</summary>
public sealed record VaultResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("secret_count")] int SecretCount,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt)
{
    public static VaultResponse From(VaultDetails vault) =>
        new(vault.Id, vault.Name, vault.Description, vault.SecretCount, Timestamps.Format(vault.CreatedAt), Timestamps.Format(vault.UpdatedAt));
}

public sealed record OrganizationResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("disabled")] bool Disabled,
    [property: JsonPropertyName("limits")] OrganizationLimitsResponse Limits)
{
    public static OrganizationResponse From(OrganizationDetails organization)
    {
        var limits = organization.Limits ?? OrganizationLimits.Default;
        return new(organization.Id, organization.Name, Timestamps.Format(organization.CreatedAt), organization.Disabled,
            new OrganizationLimitsResponse(limits.Vaults, limits.Runtimes));
    }
}

/// <summary>How many vaults and runtimes an organization may hold.</summary>
public sealed record OrganizationLimitsResponse(
    [property: JsonPropertyName("vaults")] int Vaults,
    [property: JsonPropertyName("runtimes")] int Runtimes);

/// <summary>A new API key: the only response that ever carries the key.</summary>
public sealed record CreatedApiKeyResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("created_at")] string CreatedAt);

public sealed record ApiKeyResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("hint")] string Hint,
    [property: JsonPropertyName("created_at")] string CreatedAt)
{
    public static ApiKeyResponse From(ApiKeyDetails key) => new(key.Id, key.Name, key.Hint, Timestamps.Format(key.CreatedAt));
}

/// <summary>The public runtime object: never its token.</summary>
public sealed record RuntimeResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("vault_ids")] IReadOnlyList<string> VaultIds,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt)
{
    public static RuntimeResponse From(RuntimeDetails runtime) =>
        new(runtime.Id, runtime.Name, runtime.VaultIds, Timestamps.Format(runtime.CreatedAt), Timestamps.Format(runtime.UpdatedAt));
}

/// <summary>A new runtime: the only response besides a token rotation that carries its token.</summary>
public sealed record CreatedRuntimeResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("vault_ids")] IReadOnlyList<string> VaultIds,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt,
    [property: JsonPropertyName("token")] string Token)
{
    public static CreatedRuntimeResponse From(RuntimeDetails runtime, string token) =>
        new(runtime.Id, runtime.Name, runtime.VaultIds, Timestamps.Format(runtime.CreatedAt), Timestamps.Format(runtime.UpdatedAt), token);
}

public sealed record RuntimeTokenResponse([property: JsonPropertyName("token")] string Token);

/// <summary>What an agent's container starts with: placeholders, the proxy and the CA to trust.</summary>
public sealed record RuntimeEnvironmentResponse(
    [property: JsonPropertyName("proxy_url")] string ProxyUrl,
    [property: JsonPropertyName("variables")] IReadOnlyDictionary<string, string> Variables,
    [property: JsonPropertyName("ca_certificate")] string CaCertificate);

/// <summary>One audit event as the OpenAPI document describes it (the API writes the stored JSON as it is); <c>organization_id</c> is null in the system trail.</summary>
public sealed record AuditEventResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("time")] string Time,
    [property: JsonPropertyName("organization_id")] string? OrganizationId,
    [property: JsonPropertyName("actor")] AuditActorResponse Actor,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("outcome")] string Outcome,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("resource")] IReadOnlyDictionary<string, string> Resource,
    [property: JsonPropertyName("detail")] IReadOnlyDictionary<string, string> Detail,
    [property: JsonPropertyName("previous_hash")] string PreviousHash,
    [property: JsonPropertyName("hash")] string Hash);

public sealed record AuditActorResponse(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string? Id);

public sealed record AuditEventsResponse(
    [property: JsonPropertyName("events")] IReadOnlyList<AuditEventResponse> Events,
    [property: JsonPropertyName("next")] string? Next);

public sealed record AuditVerificationResponse(
    [property: JsonPropertyName("verified")] int Verified,
    [property: JsonPropertyName("first_broken")] string? FirstBroken);

/// <summary>The body of the orchestrator probes <c>/readyz</c> and <c>/livez</c>.</summary>
public sealed record ProbeResponse([property: JsonPropertyName("status")] string Status);

public sealed record HealthResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("cluster")] string Cluster,
    [property: JsonPropertyName("storage")] string Storage);

[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(SecretResponse))]
[JsonSerializable(typeof(SecretResponse[]))]
[JsonSerializable(typeof(VaultResponse))]
[JsonSerializable(typeof(VaultResponse[]))]
[JsonSerializable(typeof(OrganizationResponse))]
[JsonSerializable(typeof(CreatedApiKeyResponse))]
[JsonSerializable(typeof(ApiKeyResponse[]))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(RuntimeResponse))]
[JsonSerializable(typeof(RuntimeResponse[]))]
[JsonSerializable(typeof(CreatedRuntimeResponse))]
[JsonSerializable(typeof(RuntimeTokenResponse))]
[JsonSerializable(typeof(RuntimeEnvironmentResponse))]
[JsonSerializable(typeof(AuditEventsResponse))]
[JsonSerializable(typeof(AuditVerificationResponse))]
[JsonSerializable(typeof(ProbeResponse))]
[JsonSerializable(typeof(RewrapCounts))]
[JsonSerializable(typeof(SealCounts))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
internal sealed partial class ApiJsonContext : JsonSerializerContext;

internal static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new(ApiJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
