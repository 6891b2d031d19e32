using Microsoft.AspNetCore.Mvc;
using VaultGrains.Domain;

namespace VaultGrains.Api.Endpoints;

/// <summary><c>/api/public/v1/vaults</c>: create, list, get, update, delete.</summary>
internal static class VaultEndpoints
{
    public static RouteGroupBuilder MapVaultEndpoints(this RouteGroupBuilder api)
    {
        var vaults = api.MapGroup("/vaults").WithTags("Vaults");
        vaults.MapPost("", Create).WithName("CreateVault");
        vaults.MapGet("", List).WithName("ListVaults");
        vaults.MapGet("/{vault_id}", Get).WithName("GetVault");
        vaults.MapPatch("/{vault_id}", Update).WithName("UpdateVault");
        vaults.MapDelete("/{vault_id}", Delete).WithName("DeleteVault");
        return api;
    }

    /// <summary>A vault that does not exist is reported before anything wrong with the body.</summary>
    public static async Task<IResult> VaultNotFoundFirstAsync(IVaultGrain vault, string organizationId, IResult bodyError)
    {
        var reply = await vault.Get(organizationId);
        return reply.Succeeded ? bodyError : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Create(HttpContext http, IGrainFactory grains)
    {
        var (body, bodyError) = await JsonBody.ReadAsync(http.Request);
        if (body is null)
        {
            return bodyError!;
        }

        using (body)
        {
            if (ReadName(body, required: true, out var name) is { } nameError)
            {
                return nameError;
            }

            if (ReadDescription(body, out var description) is { } descriptionError)
            {
                return descriptionError;
            }

            var organization = grains.GetGrain<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http));
            var reply = await organization.CreateVault(ResourceId.New(ResourceId.Vault), name!, description);
            return reply.Succeeded
                ? ApiResults.Ok(VaultResponse.From(reply.Value!), StatusCodes.Status201Created)
                : ApiResults.From(reply.Error);
        }
    }

    private static async Task<IResult> List(HttpContext http, IGrainFactory grains)
    {
        var reply = await grains.GetGrain<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http)).ListVaults();
        return reply.Succeeded
            ? ApiResults.Ok(reply.Value!.Select(VaultResponse.From).ToArray())
            : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Get([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(vaultId, ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        var reply = await grains.GetGrain<IVaultGrain>(vaultId).Get(ApiKeyAuthentication.CallerOrganization(http));
        return reply.Succeeded ? ApiResults.Ok(VaultResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Update([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(vaultId, ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        var organizationId = ApiKeyAuthentication.CallerOrganization(http);
        var vault = grains.GetGrain<IVaultGrain>(vaultId);
        var (body, bodyError) = await JsonBody.ReadAsync(http.Request);
        using (body)
        {
            IResult? error = bodyError;
            string? name = null;
            string? description = null;
            if (body is not null)
            {
                error = ReadName(body, required: false, out name) ?? ReadDescription(body, out description);
            }

            if (error is not null)
            {
                return await VaultNotFoundFirstAsync(vault, organizationId, error);
            }

            var reply = await vault.Update(organizationId, new VaultChanges(name, body!.Has("description"), description));
            return reply.Succeeded ? ApiResults.Ok(VaultResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
        }
    }

    private static async Task<IResult> Delete([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(vaultId, ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        var reply = await grains.GetGrain<IVaultGrain>(vaultId).Delete(ApiKeyAuthentication.CallerOrganization(http));
        return reply.Succeeded ? Results.NoContent() : ApiResults.From(reply.Error, reply.Count);
    }

    private static IResult? ReadName(JsonBody body, bool required, out string? name)
    {
        if (!body.TryGetString("name", out name, out var error))
        {
            return ApiResults.BadRequest(error!);
        }

        if ((required || body.Has("name")) && string.IsNullOrWhiteSpace(name))
        {
            return ApiResults.BadRequest("name cannot be empty");
        }

        return name is { Length: > SecretRules.MaxVaultNameLength }
            ? ApiResults.BadRequest($"name must be at most {SecretRules.MaxVaultNameLength} characters")
            : null;
    }

    private static IResult? ReadDescription(JsonBody body, out string? description)
    {
        if (!body.TryGetString("description", out description, out var error))
        {
            return ApiResults.BadRequest(error!);
        }

        return description is { Length: > SecretRules.MaxVaultDescriptionLength }
            ? ApiResults.BadRequest($"description must be at most {SecretRules.MaxVaultDescriptionLength} characters")
            : null;
    }
}
