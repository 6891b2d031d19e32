using Microsoft.AspNetCore.Mvc;
using VaultGrains.Domain;

namespace VaultGrains.Api.Endpoints;

/// <summary><c>/api/public/v1/vaults/{vault_id}/secrets</c>: create, list, get, rotate, delete.</summary>
internal static class SecretEndpoints
{
    public static RouteGroupBuilder MapSecretEndpoints(this RouteGroupBuilder api)
    {
        var secrets = api.MapGroup("/vaults/{vault_id}/secrets").WithTags("Secrets");
        secrets.MapPost("", Create).WithName("CreateSecret")
            .WithSummary("Create a secret")
            .Accepts<CreateSecretRequest>("application/json")
            .Produces<SecretResponse>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 404, 413, 503)
            .WithDescription("404 `vault not found` comes before any body error. 400: `value cannot be empty`, "
                + "`env_key already exists in this vault` (use PATCH to rotate), `vault is full` (1,000 secrets or 8 MiB of values), "
                + "or a message naming the field and the rule.");
        secrets.MapGet("", List).WithName("ListSecrets")
            .WithSummary("List secrets")
            .Produces<SecretResponse[]>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("A bare array of the vault's secrets in creation order. Values are never returned.");
        secrets.MapGet("/{secret_id}", Get).WithName("GetSecret")
            .WithSummary("Get a secret")
            .Produces<SecretResponse>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("400: `invalid vault_id` or `invalid secret_id`. 404: `vault not found` or `secret not found`. The value is never returned.");
        secrets.MapPatch("/{secret_id}", Update).WithName("UpdateSecret")
            .WithSummary("Rotate a secret's value and/or replace its allowed domains")
            .Accepts<UpdateSecretRequest>("application/json")
            .Produces<SecretResponse>()
            .ProducesErrors(400, 401, 404, 413, 503)
            .WithDescription("Partial: `{}` or an unchanged value and list change nothing and keep `updated_at`. "
                + "400: `value cannot be empty`, `env_key cannot be changed`, `vault is full`.");
        secrets.MapDelete("/{secret_id}", Delete).WithName("DeleteSecret")
            .WithSummary("Delete a secret")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Permanent: the value's encrypted data key is destroyed. The env_key can be used again.");
        return api;
    }

    private static async Task<IResult> Create([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(vaultId, ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        var organizationId = ApiKeyAuthentication.CallerOrganization(http);
        var vault = grains.ReferenceTo<IVaultGrain>(vaultId);
        var (body, bodyError) = await JsonBody.ReadAsync(http.Request);
        using (body)
        {
            var (secret, error) = body is null ? (null, bodyError) : ReadNewSecret(body, ResourceMinter.For(http));
            if (secret is null)
            {
                return await VaultEndpoints.VaultNotFoundFirstAsync(vault, organizationId, error!);
            }

            var reply = await vault.CreateSecret(organizationId, secret);
            return reply.Succeeded
                ? ApiResults.Ok(SecretResponse.From(reply.Value!), StatusCodes.Status201Created)
                : ApiResults.From(reply.Error);
        }
    }

    private static async Task<IResult> List([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(vaultId, ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        // The grain's bytes as they are: encoded once per version of the vault, not per request.
        var reply = await grains.ReferenceTo<IVaultGrain>(vaultId).ListSecretsJson(ApiKeyAuthentication.CallerOrganization(http));
        return reply.Succeeded
            ? ApiResults.Utf8Json(reply.Value!.Utf8)
            : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Get([FromRoute(Name = "vault_id")] string vaultId, [FromRoute(Name = "secret_id")] string secretId, HttpContext http, IGrainFactory grains)
    {
        if (CheckIds(vaultId, secretId) is { } invalid)
        {
            return invalid;
        }

        var reply = await grains.ReferenceTo<IVaultGrain>(vaultId).GetSecret(ApiKeyAuthentication.CallerOrganization(http), secretId);
        return reply.Succeeded ? ApiResults.Ok(SecretResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Update([FromRoute(Name = "vault_id")] string vaultId, [FromRoute(Name = "secret_id")] string secretId, HttpContext http, IGrainFactory grains)
    {
        if (CheckIds(vaultId, secretId) is { } invalid)
        {
            return invalid;
        }

        var organizationId = ApiKeyAuthentication.CallerOrganization(http);
        var vault = grains.ReferenceTo<IVaultGrain>(vaultId);
        var (body, bodyError) = await JsonBody.ReadAsync(http.Request);
        using (body)
        {
            var (changes, error) = body is null ? (null, bodyError) : ReadSecretChanges(body);
            if (changes is null)
            {
                return await VaultEndpoints.VaultNotFoundFirstAsync(vault, organizationId, error!);
            }

            var reply = await vault.UpdateSecret(organizationId, secretId, changes);
            return reply.Succeeded ? ApiResults.Ok(SecretResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
        }
    }

    private static async Task<IResult> Delete([FromRoute(Name = "vault_id")] string vaultId, [FromRoute(Name = "secret_id")] string secretId, HttpContext http, IGrainFactory grains)
    {
        if (CheckIds(vaultId, secretId) is { } invalid)
        {
            return invalid;
        }

        var reply = await grains.ReferenceTo<IVaultGrain>(vaultId).DeleteSecret(ApiKeyAuthentication.CallerOrganization(http), secretId);
        return reply.Succeeded ? Results.NoContent() : ApiResults.From(reply.Error);
    }

    private static IResult? CheckIds(string vaultId, string secretId) =>
        !ResourceId.IsValid(vaultId, ResourceId.Vault) ? ApiResults.BadRequest("invalid vault_id")
        : !ResourceId.IsValid(secretId, ResourceId.Secret) ? ApiResults.BadRequest("invalid secret_id")
        : null;

    // Checks run in the documented order: the value first (its message is fixed by the seed), then env_key, then the domains.
    internal static (NewSecret?, IResult?) ReadNewSecret(JsonBody body, ResourceMinter? minter = null)
    {
        if (!body.TryGetString("value", out var value, out var error))
        {
            return (null, ApiResults.BadRequest(error!));
        }

        if (string.IsNullOrEmpty(value))
        {
            return (null, ApiResults.BadRequest("value cannot be empty"));
        }

        if (!body.TryGetString("env_key", out var envKey, out error))
        {
            return (null, ApiResults.BadRequest(error!));
        }

        if (envKey is null)
        {
            return (null, ApiResults.BadRequest("env_key is required"));
        }

        error = SecretRules.CheckEnvKey(envKey) ?? SecretRules.CheckValueSize(value);
        if (error is not null)
        {
            return (null, ApiResults.BadRequest(error));
        }

        if (ReadDomains(body, out var domains) is { } domainError)
        {
            return (null, domainError);
        }

        return (new NewSecret((minter ?? ResourceMinter.Unseeded).NewId(ResourceId.Secret), envKey, new SecretValue(value), domains ?? []), null);
    }

    private static (SecretChanges?, IResult?) ReadSecretChanges(JsonBody body)
    {
        // Sending the secret's own env_key back is accepted (the grain compares); anything else is a change.
        if (!body.TryGetString("env_key", out var envKey, out var error))
        {
            return (null, ApiResults.BadRequest(error!));
        }

        if (body.Has("env_key") && envKey is null)
        {
            return (null, ApiResults.BadRequest(ApiResults.EnvKeyCannotChange));
        }

        if (!body.TryGetString("value", out var value, out error))
        {
            return (null, ApiResults.BadRequest(error!));
        }

        if (body.Has("value") && string.IsNullOrEmpty(value))
        {
            return (null, ApiResults.BadRequest("value cannot be empty"));
        }

        if (value is not null && SecretRules.CheckValueSize(value) is { } sizeError)
        {
            return (null, ApiResults.BadRequest(sizeError));
        }

        if (ReadDomains(body, out var domains) is { } domainError)
        {
            return (null, domainError);
        }

        return (new SecretChanges(value is null ? null : new SecretValue(value), domains, envKey), null);
    }

    private static IResult? ReadDomains(JsonBody body, out List<string>? normalized)
    {
        normalized = null;
        if (!body.TryGetStringArray("allowed_domains", out var patterns, out var error))
        {
            return ApiResults.BadRequest(error!);
        }

        if (patterns is not null && !DomainPattern.TryNormalizeAll(patterns, out normalized, out error))
        {
            return ApiResults.BadRequest(error!);
        }

        return null;
    }
}
