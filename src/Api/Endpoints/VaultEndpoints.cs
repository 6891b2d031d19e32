using Microsoft.AspNetCore.Mvc;
using VaultGrains.Domain;

namespace VaultGrains.Api.Endpoints;

/// <summary><c>/api/public/v1/vaults</c>: create, list, get, update, delete.</summary>
internal static class VaultEndpoints
{
    public static RouteGroupBuilder MapVaultEndpoints(this RouteGroupBuilder api)
    {
        var vaults = api.MapGroup("/vaults").WithTags("Vaults");
        vaults.MapPost("", Create).WithName("CreateVault")
            .WithSummary("Create a vault")
            .Accepts<CreateVaultRequest>("application/json")
            .Produces<VaultResponse>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 413, 503)
            .WithDescription("400: `name cannot be empty`, `name must be at most 200 characters`, `description must be at most 2000 characters`, or a malformed body.");
        vaults.MapGet("", List).WithName("ListVaults")
            .WithSummary("List vaults")
            .Produces<VaultResponse[]>()
            .ProducesErrors(401, 503)
            .WithDescription("A bare array of the organization's vaults in creation order, each with its `secret_count`.");
        vaults.MapGet("/{vault_id}", Get).WithName("GetVault")
            .WithSummary("Get a vault")
            .Produces<VaultResponse>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("400: `invalid vault_id`. 404: `vault not found` (unknown, or in another organization).");
        vaults.MapPatch("/{vault_id}", Update).WithName("UpdateVault")
            .WithSummary("Update a vault")
            .Accepts<UpdateVaultRequest>("application/json")
            .Produces<VaultResponse>()
            .ProducesErrors(400, 401, 404, 413, 503)
            .WithDescription("Partial: only the fields present change. `{}` or unchanged values change nothing and keep `updated_at`. "
                + "404 `vault not found` comes before any body error.");
        vaults.MapDelete("/{vault_id}", Delete).WithName("DeleteVault")
            .WithSummary("Delete an empty vault")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Refused while the vault holds secrets: 400 `cannot delete vault: vault still contains N secret(s)`. "
                + "Deleting destroys the vault's key and removes it from the listing.");
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

            var organization = grains.ReferenceTo<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http));
            var reply = await organization.CreateVault(ResourceMinter.For(http).NewId(ResourceId.Vault), name!, description);
            return reply.Succeeded
                ? ApiResults.Ok(VaultResponse.From(reply.Value!), StatusCodes.Status201Created)
                : ApiResults.From(reply.Error);
        }
    }

    private static async Task<IResult> List(HttpContext http, IGrainFactory grains)
    {
        var reply = await grains.ReferenceTo<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http)).ListVaults();
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

        var reply = await grains.ReferenceTo<IVaultGrain>(vaultId).Get(ApiKeyAuthentication.CallerOrganization(http));
        return reply.Succeeded ? ApiResults.Ok(VaultResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Update([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, IGrainFactory grains)
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

        var reply = await grains.ReferenceTo<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http)).DeleteVault(vaultId);
        return reply.Succeeded ? Results.NoContent() : ApiResults.From(reply.Error, reply.Count);
    }

    internal static IResult? ReadName(JsonBody body, bool required, out string? name)
    {
        if (!body.TryGetString("name", out name, out var error))
        {
            return ApiResults.BadRequest(error!);
        }

        if ((required || body.Has("name")) && string.IsNullOrWhiteSpace(name))
        {
            return ApiResults.BadRequest("name cannot be empty");
        }

        return name is not null && SecretRules.CharacterCount(name) > SecretRules.MaxVaultNameLength
            ? ApiResults.BadRequest($"name must be at most {SecretRules.MaxVaultNameLength} characters")
            : null;
    }

    private static IResult? ReadDescription(JsonBody body, out string? description)
    {
        if (!body.TryGetString("description", out description, out var error))
        {
            return ApiResults.BadRequest(error!);
        }

        return description is not null && SecretRules.CharacterCount(description) > SecretRules.MaxVaultDescriptionLength
            ? ApiResults.BadRequest($"description must be at most {SecretRules.MaxVaultDescriptionLength} characters")
            : null;
    }
}
