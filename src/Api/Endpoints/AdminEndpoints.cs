using VaultGrains.Api.Audit;
using Microsoft.AspNetCore.Mvc;
using VaultGrains.Domain;

namespace VaultGrains.Api.Endpoints;

/// <summary><c>/api/admin/v1</c>: organizations and their API keys, and maintenance, for the operator.</summary>
internal static class AdminEndpoints
{
    private const int MaxNameLength = 200;

    public static IEndpointRouteBuilder MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/admin/v1").WithTags("Admin");
        admin.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<AdminAuthentication>().FilterAsync(context, next));
        admin.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<IdempotencyFilter>().FilterAdminAsync(context, next));
        admin.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<RefusedChangeRecorder>().FilterAdminAsync(context, next));
        admin.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<ReadRecorder>().FilterAdminAsync(context, next));
        admin.MapAdminAuditEndpoints();
        // 404 on every route when no admin token is configured.
        admin.MapPost("/organizations", CreateOrganization).WithName("CreateOrganization")
            .WithSummary("Create an organization")
            .Accepts<NameRequest>("application/json")
            .Produces<OrganizationResponse>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 404, 413, 503);
        admin.MapGet("/organizations/{org_id}", GetOrganization).WithName("GetOrganization")
            .WithSummary("Get an organization")
            .Produces<OrganizationResponse>()
            .ProducesErrors(400, 401, 404, 503);
        admin.MapPatch("/organizations/{org_id}", UpdateOrganization).WithName("UpdateOrganization")
            .WithSummary("Switch an organization off or on, or set its limits")
            .Accepts<UpdateOrganizationRequest>("application/json")
            .Produces<OrganizationResponse>()
            .ProducesErrors(400, 401, 404, 413, 503)
            .WithDescription("Partial: only the fields present change; `{}` is a no-op. Switched off, the organization's API keys get 401 and its runtimes' tokens 407 within a second; nothing is deleted.");
        admin.MapPost("/organizations/{org_id}/api-keys", CreateApiKey).WithName("CreateApiKey")
            .WithSummary("Create an API key")
            .Accepts<NameRequest>("application/json")
            .Produces<CreatedApiKeyResponse>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 404, 413, 503)
            .WithDescription("The response is the only place the key (`nr_…`) is ever shown; only its hash is stored.");
        admin.MapGet("/organizations/{org_id}/api-keys", ListApiKeys).WithName("ListApiKeys")
            .WithSummary("List API keys")
            .Produces<ApiKeyResponse[]>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Active keys with their `hint` (last 4 characters), never the key.");
        admin.MapDelete("/organizations/{org_id}/api-keys/{key_id}", RevokeApiKey).WithName("RevokeApiKey")
            .WithSummary("Revoke an API key")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Effective at once: every API instance refuses the key within 1 second.");
        admin.MapPost("/maintenance/rewrap", RewrapVaultKeys).WithName("RewrapVaultKeys")
            .WithSummary("Re-wrap every vault key under the configured key-encryption key")
            .Produces<RewrapCounts>()
            .ProducesErrors(401, 404, 503)
            .WithDescription("Walks all organizations and vaults; values are not decrypted or re-encrypted. Returns counts.");
        admin.MapPost("/maintenance/seal-records", SealCredentialRecords).WithName("SealCredentialRecords")
            .WithSummary("Seal API key and runtime records written before records were sealed (once, at upgrade)")
            .Produces<SealCounts>()
            .ProducesErrors(401, 404, 503)
            .WithDescription("Run while the silos have `Integrity:AcceptUnsealedRecords=true`, then remove that setting: from then on a record without a valid seal is refused as an integrity failure. Idempotent.");
        return app;
    }

    private static async Task<IResult> SealCredentialRecords(HttpContext http, IGrainFactory grains, ILoggerFactory loggers) =>
        ApiResults.Ok(await CredentialSealing.RunAsync(grains, loggers.CreateLogger(typeof(CredentialSealing)), http.RequestAborted));

    /// <summary>Moves every vault key to the configured key-encryption key; values are not touched.</summary>
    private static async Task<IResult> RewrapVaultKeys(HttpContext http, IGrainFactory grains, ILoggerFactory loggers) =>
        ApiResults.Ok(await VaultKeyRewrap.RunAsync(grains, loggers.CreateLogger(typeof(VaultKeyRewrap)), http.RequestAborted));

    private static async Task<IResult> CreateOrganization(HttpContext http, IGrainFactory grains)
    {
        var (name, error) = await ReadNameAsync(http.Request);
        if (error is not null)
        {
            return error;
        }

        var minter = ResourceMinter.For(http);
        var organization = grains.ReferenceTo<IOrganizationGrain>(minter.NewId(ResourceId.Organization));

        // A repeat of a create whose outcome was lost: the organization it made, if it made one,
        // has this same id (Create itself refuses an existing organization).
        if (minter.EarlierAttemptMayHaveRun && await organization.Get() is { Succeeded: true } earlier)
        {
            return earlier.Value!.Name == name
                ? ApiResults.Ok(OrganizationResponse.From(earlier.Value!), StatusCodes.Status201Created)
                : ApiResults.From(VaultError.AlreadyExists);
        }

        var reply = await organization.Create(name!);
        return reply.Succeeded
            ? ApiResults.Ok(OrganizationResponse.From(reply.Value!), StatusCodes.Status201Created)
            : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> GetOrganization([FromRoute(Name = "org_id")] string organizationId, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(organizationId, ResourceId.Organization))
        {
            return ApiResults.BadRequest("invalid org_id");
        }

        var reply = await grains.ReferenceTo<IOrganizationGrain>(organizationId).Get();
        return reply.Succeeded ? ApiResults.Ok(OrganizationResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> UpdateOrganization([FromRoute(Name = "org_id")] string organizationId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(organizationId, ResourceId.Organization))
        {
            return ApiResults.BadRequest("invalid org_id");
        }

        var (changes, error) = await UpdateOrganizationRequest.ReadAsync(http.Request);
        if (error is not null)
        {
            return error;
        }

        var reply = await grains.ReferenceTo<IOrganizationGrain>(organizationId).Update(changes!);
        return reply.Succeeded ? ApiResults.Ok(OrganizationResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> CreateApiKey([FromRoute(Name = "org_id")] string organizationId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(organizationId, ResourceId.Organization))
        {
            return ApiResults.BadRequest("invalid org_id");
        }

        var (name, error) = await ReadNameAsync(http.Request);
        if (error is not null)
        {
            return error;
        }

        var minter = ResourceMinter.For(http);
        var key = minter.NewCredential(Credentials.ApiKey);
        var keyHash = CredentialFormat.Hash(key);
        var keyId = minter.NewId(ResourceId.ApiKey);
        var organization = grains.ReferenceTo<IOrganizationGrain>(organizationId);

        // A repeat of a create whose outcome was lost: the key it made, if it made one, has this
        // same id (CreateApiKey itself would add a second record).
        if (minter.EarlierAttemptMayHaveRun && await organization.ListApiKeys() is { Succeeded: true } listed
            && listed.Value!.FirstOrDefault(k => k.Id == keyId) is { } earlier)
        {
            return ApiResults.Ok(new CreatedApiKeyResponse(earlier.Id, earlier.Name, key, Timestamps.Format(earlier.CreatedAt)), StatusCodes.Status201Created);
        }

        http.RequestServices.GetRequiredService<ApiKeyAuthentication>().Created(keyHash);
        var reply = await organization.CreateApiKey(new NewApiKey(keyId, name!, keyHash, CredentialFormat.Hint(key)));
        return reply.Succeeded
            ? ApiResults.Ok(new CreatedApiKeyResponse(reply.Value!.Id, reply.Value.Name, key, Timestamps.Format(reply.Value.CreatedAt)), StatusCodes.Status201Created)
            : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> ListApiKeys([FromRoute(Name = "org_id")] string organizationId, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(organizationId, ResourceId.Organization))
        {
            return ApiResults.BadRequest("invalid org_id");
        }

        var reply = await grains.ReferenceTo<IOrganizationGrain>(organizationId).ListApiKeys();
        return reply.Succeeded
            ? ApiResults.Ok(reply.Value!.Select(ApiKeyResponse.From).ToArray())
            : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> RevokeApiKey([FromRoute(Name = "org_id")] string organizationId, [FromRoute(Name = "key_id")] string keyId, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(organizationId, ResourceId.Organization))
        {
            return ApiResults.BadRequest("invalid org_id");
        }

        if (!ResourceId.IsValid(keyId, ResourceId.ApiKey))
        {
            return ApiResults.BadRequest("invalid key_id");
        }

        var reply = await grains.ReferenceTo<IOrganizationGrain>(organizationId).RevokeApiKey(keyId);
        return reply.Succeeded ? Results.NoContent() : ApiResults.From(reply.Error);
    }

    private static async Task<(string? Name, IResult? Error)> ReadNameAsync(HttpRequest request)
    {
        var (body, error) = await JsonBody.ReadAsync(request);
        if (body is null)
        {
            return (null, error);
        }

        using (body)
        {
            if (!body.TryGetString("name", out var name, out var typeError))
            {
                return (null, ApiResults.BadRequest(typeError!));
            }

            if (string.IsNullOrWhiteSpace(name))
            {
                return (null, ApiResults.BadRequest("name cannot be empty"));
            }

            return name.Length > MaxNameLength
                ? (null, ApiResults.BadRequest($"name must be at most {MaxNameLength} characters"))
                : (name, null);
        }
    }
}
