using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using VaultGrains.Domain;

namespace VaultGrains.Api;

// The request bodies as the OpenAPI document describes them. Handlers read bodies with JsonBody
// instead (its messages name the field and the rule exactly as API.md says); these types exist
// so the document and the reference page show what to send.

/// <summary>Body of <c>POST /vaults</c>.</summary>
public sealed record CreateVaultRequest(
    [property: JsonPropertyName("name"), Required, StringLength(SecretRules.MaxVaultNameLength, MinimumLength = 1)]
    [property: Description("Display name, 1 to 200 characters.")]
    string Name,
    [property: JsonPropertyName("description"), StringLength(SecretRules.MaxVaultDescriptionLength)]
    [property: Description("Optional, at most 2,000 characters.")]
    string? Description = null);

/// <summary>Body of <c>PATCH /vaults/{vault_id}</c>: only the fields present change.</summary>
public sealed record UpdateVaultRequest(
    [property: JsonPropertyName("name"), StringLength(SecretRules.MaxVaultNameLength, MinimumLength = 1)]
    [property: Description("New name, 1 to 200 characters. Absent: unchanged.")]
    string? Name = null,
    [property: JsonPropertyName("description"), StringLength(SecretRules.MaxVaultDescriptionLength)]
    [property: Description("New description; null clears it. Absent: unchanged.")]
    string? Description = null);

/// <summary>Body of <c>POST /vaults/{vault_id}/secrets</c>.</summary>
public sealed record CreateSecretRequest(
    [property: JsonPropertyName("env_key"), Required, StringLength(SecretRules.MaxEnvKeyLength, MinimumLength = 1), RegularExpression("^[A-Za-z_][A-Za-z0-9_]*$")]
    [property: Description("Environment variable name, unique in the vault (case-sensitive). Must not start with NAIRI_, CCAGENT_ or CCASECRET_ (any case).")]
    string EnvKey,
    [property: JsonPropertyName("value"), Required]
    [property: Description("Secret value, at most 65,536 bytes of UTF-8. Stored encrypted; never returned by any endpoint.")]
    string Value,
    [property: JsonPropertyName("allowed_domains"), MaxLength(SecretRules.MaxAllowedDomains)]
    [property: Description("Host names (api.example.com) or wildcards (*.example.com: any subdomain, not the apex) where the secret may be used. Empty or absent: no restriction.")]
    string[]? AllowedDomains = null);

/// <summary>Body of <c>PATCH /vaults/{vault_id}/secrets/{secret_id}</c>: only the fields present change.</summary>
public sealed record UpdateSecretRequest(
    [property: JsonPropertyName("value")]
    [property: Description("New value (rotation, under a fresh data key). Absent: unchanged. Empty or null is refused.")]
    string? Value = null,
    [property: JsonPropertyName("allowed_domains"), MaxLength(SecretRules.MaxAllowedDomains)]
    [property: Description("Replaces the whole list. Absent: unchanged.")]
    string[]? AllowedDomains = null,
    [property: JsonPropertyName("env_key")]
    [property: Description("Cannot change; accepted only when equal to the secret's own env_key.")]
    string? EnvKey = null);

/// <summary>Body of <c>POST /runtimes</c>.</summary>
public sealed record CreateRuntimeRequest(
    [property: JsonPropertyName("name"), Required, StringLength(SecretRules.MaxVaultNameLength, MinimumLength = 1)]
    [property: Description("Display name, 1 to 200 characters.")]
    string Name,
    [property: JsonPropertyName("vault_ids"), MaxLength(20)]
    [property: Description("Vaults of the organization to attach, at most 20, no repeats. Order is precedence: the first vault listed wins an env_key.")]
    string[]? VaultIds = null);

/// <summary>Body of <c>PATCH /runtimes/{runtime_id}</c>: only the fields present change.</summary>
public sealed record UpdateRuntimeRequest(
    [property: JsonPropertyName("name"), StringLength(SecretRules.MaxVaultNameLength, MinimumLength = 1)]
    [property: Description("New name. Absent: unchanged.")]
    string? Name = null,
    [property: JsonPropertyName("vault_ids"), MaxLength(20)]
    [property: Description("Replaces the attached vaults (attach and detach). Absent: unchanged.")]
    string[]? VaultIds = null);

/// <summary>Body of <c>POST /organizations</c> and <c>POST /organizations/{org_id}/api-keys</c>.</summary>
public sealed record NameRequest(
    [property: JsonPropertyName("name"), Required, StringLength(SecretRules.MaxVaultNameLength, MinimumLength = 1)]
    [property: Description("Display name, 1 to 200 characters.")]
    string Name);
