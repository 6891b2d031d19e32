using System.Text;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using VaultGrains.Domain;

namespace VaultGrains.Api.Endpoints;

/// <summary><c>/api/public/v1/runtimes</c>: runtimes, their tokens and the environment an agent starts with.</summary>
internal static class RuntimeEndpoints
{
    public const int MaxVaultsPerRuntime = 20;

    public static RouteGroupBuilder MapRuntimeEndpoints(this RouteGroupBuilder api)
    {
        var runtimes = api.MapGroup("/runtimes").WithTags("Runtimes");
        runtimes.MapPost("", Create).WithName("CreateRuntime")
            .WithSummary("Create a runtime")
            .Accepts<CreateRuntimeRequest>("application/json")
            .Produces<CreatedRuntimeResponse>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 404, 413, 503)
            .WithDescription("The response carries the runtime's proxy `token`, shown only here. 400: `name cannot be empty`, `invalid vault_id`, "
                + $"`vault_ids must hold at most {MaxVaultsPerRuntime} vaults`, `vault_ids must not repeat a vault`. 404: `vault not found`.");
        runtimes.MapGet("", List).WithName("ListRuntimes")
            .WithSummary("List runtimes")
            .Produces<RuntimeResponse[]>()
            .ProducesErrors(401, 503)
            .WithDescription("A bare array of the organization's runtimes in creation order. Never a token.");
        runtimes.MapGet("/{runtime_id}", Get).WithName("GetRuntime")
            .WithSummary("Get a runtime")
            .Produces<RuntimeResponse>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("400: `invalid runtime_id`. 404: `runtime not found` (unknown, or in another organization).");
        runtimes.MapPatch("/{runtime_id}", Update).WithName("UpdateRuntime")
            .WithSummary("Rename a runtime, attach or detach vaults")
            .Accepts<UpdateRuntimeRequest>("application/json")
            .Produces<RuntimeResponse>()
            .ProducesErrors(400, 401, 404, 413, 503)
            .WithDescription("Partial: `vault_ids` replaces the list. `{}` or unchanged values change nothing and keep `updated_at`. "
                + "A detached vault's values stop reaching the runtime's proxy within a second.");
        runtimes.MapPost("/{runtime_id}/token", RotateToken).WithName("RotateRuntimeToken")
            .WithSummary("Issue a new proxy token")
            .Produces<RuntimeTokenResponse>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("The old token stops working within a second.");
        runtimes.MapDelete("/{runtime_id}", Delete).WithName("DeleteRuntime")
            .WithSummary("Delete a runtime")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Detaches its vaults; its token stops working within a second.");
        runtimes.MapGet("/{runtime_id}/environment", Environment).WithName("GetRuntimeEnvironment")
            .WithSummary("The environment an agent starts with")
            .Produces<string>(StatusCodes.Status200OK, "text/plain")
            .Produces<RuntimeEnvironmentResponse>()
            .ProducesErrors(400, 401, 404, 503)
            .WithDescription("Placeholders for every env_key of the attached vaults (`ENV_KEY` and `CCASECRET_ENV_KEY`, both set to `CCASECRET_ENV_KEY`; "
                + "the first vault listed wins a key), the proxy's URL and the CA certificate to trust. `?format=dotenv` gives the variables as a KEY=value file.");
        return api;
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
            List<string>? vaultIds = null;
            if ((VaultEndpoints.ReadName(body, required: true, out var name) ?? ReadVaultIds(body, out vaultIds)) is { } error)
            {
                return error;
            }

            var minter = ResourceMinter.For(http);
            var token = minter.NewCredential(Credentials.RuntimeToken);
            var runtime = new NewRuntime(minter.NewId(ResourceId.Runtime), name!, vaultIds ?? [], CredentialFormat.Hash(token));
            var reply = await grains.ReferenceTo<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http)).CreateRuntime(runtime);
            return reply.Succeeded
                ? ApiResults.Ok(CreatedRuntimeResponse.From(reply.Value!, token), StatusCodes.Status201Created)
                : ApiResults.From(reply.Error);
        }
    }

    private static async Task<IResult> List(HttpContext http, IGrainFactory grains)
    {
        var reply = await grains.ReferenceTo<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http)).ListRuntimes();
        return reply.Succeeded
            ? ApiResults.Ok(reply.Value!.Select(RuntimeResponse.From).ToArray())
            : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Get([FromRoute(Name = "runtime_id")] string runtimeId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(runtimeId, ResourceId.Runtime))
        {
            return ApiResults.BadRequest("invalid runtime_id");
        }

        var reply = await grains.ReferenceTo<IRuntimeGrain>(runtimeId).Get(ApiKeyAuthentication.CallerOrganization(http));
        return reply.Succeeded ? ApiResults.Ok(RuntimeResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Update([FromRoute(Name = "runtime_id")] string runtimeId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(runtimeId, ResourceId.Runtime))
        {
            return ApiResults.BadRequest("invalid runtime_id");
        }

        var organizationId = ApiKeyAuthentication.CallerOrganization(http);
        var runtime = grains.ReferenceTo<IRuntimeGrain>(runtimeId);
        var (body, bodyError) = await JsonBody.ReadAsync(http.Request);
        using (body)
        {
            string? name = null;
            List<string>? vaultIds = null;
            var error = bodyError ?? VaultEndpoints.ReadName(body!, required: false, out name) ?? ReadVaultIds(body!, out vaultIds);
            if (error is not null)
            {
                // An unknown runtime is reported before anything wrong with the body.
                var found = await runtime.Get(organizationId);
                return found.Succeeded ? error : ApiResults.From(found.Error);
            }

            var reply = await runtime.Update(organizationId, new RuntimeChanges(name, vaultIds));
            return reply.Succeeded ? ApiResults.Ok(RuntimeResponse.From(reply.Value!)) : ApiResults.From(reply.Error);
        }
    }

    private static async Task<IResult> RotateToken([FromRoute(Name = "runtime_id")] string runtimeId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(runtimeId, ResourceId.Runtime))
        {
            return ApiResults.BadRequest("invalid runtime_id");
        }

        var token = ResourceMinter.For(http).NewCredential(Credentials.RuntimeToken);
        var reply = await grains.ReferenceTo<IRuntimeGrain>(runtimeId).RotateToken(ApiKeyAuthentication.CallerOrganization(http), CredentialFormat.Hash(token));
        return reply.Succeeded
            ? ApiResults.Ok(new RuntimeTokenResponse(token), StatusCodes.Status201Created)
            : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Delete([FromRoute(Name = "runtime_id")] string runtimeId, HttpContext http, IGrainFactory grains)
    {
        if (!ResourceId.IsValid(runtimeId, ResourceId.Runtime))
        {
            return ApiResults.BadRequest("invalid runtime_id");
        }

        var reply = await grains.ReferenceTo<IOrganizationGrain>(ApiKeyAuthentication.CallerOrganization(http)).DeleteRuntime(runtimeId);
        return reply.Succeeded ? Results.NoContent() : ApiResults.From(reply.Error);
    }

    private static async Task<IResult> Environment(
        [FromRoute(Name = "runtime_id")] string runtimeId,
        [FromQuery(Name = "format")] string? format,
        HttpContext http,
        IGrainFactory grains,
        IOptions<RuntimeEnvironmentOptions> options)
    {
        if (!ResourceId.IsValid(runtimeId, ResourceId.Runtime))
        {
            return ApiResults.BadRequest("invalid runtime_id");
        }

        if (format is not (null or "json" or "dotenv"))
        {
            return ApiResults.BadRequest("format must be json or dotenv");
        }

        var organizationId = ApiKeyAuthentication.CallerOrganization(http);
        var runtime = await grains.ReferenceTo<IRuntimeGrain>(runtimeId).Get(organizationId);
        if (!runtime.Succeeded)
        {
            return ApiResults.From(runtime.Error);
        }

        var listings = await Task.WhenAll(runtime.Value!.VaultIds.Select(id => grains.ReferenceTo<IVaultGrain>(id).ListSecrets(organizationId)));
        if (Array.Find(listings, l => l.Error is not (VaultError.None or VaultError.VaultNotFound)) is { } failed)
        {
            return ApiResults.From(failed.Error);
        }

        // The first vault listed wins an env_key, as in the proxy.
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var secret in listings.Where(l => l.Succeeded).SelectMany(l => l.Value!))
        {
            var placeholder = Placeholders.For(secret.EnvKey);
            if (variables.TryAdd(secret.EnvKey, placeholder))
            {
                variables[placeholder] = placeholder;
            }
        }

        var proxyUrl = options.Value.ProxyUrl;
        if (format == "dotenv")
        {
            var text = new StringBuilder()
                .Append("# VaultGrains runtime ").Append(runtimeId).Append('\n')
                .Append("# Placeholders only: the secret proxy puts values on the wire for allowed hosts.\n")
                .Append("# Proxy: HTTPS_PROXY=").Append(ProxyUrlWithCredentials(proxyUrl, runtimeId)).Append(" (the token was shown when it was issued)\n");
            foreach (var (name, value) in variables)
            {
                text.Append(name).Append('=').Append(value).Append('\n');
            }

            return Results.Text(text.ToString(), "text/plain; charset=utf-8");
        }

        var certificate = await grains.GetGrain<IProxyAuthorityGrain>(0).GetCertificatePem();
        return ApiResults.Ok(new RuntimeEnvironmentResponse(proxyUrl, variables, certificate));
    }

    private static string ProxyUrlWithCredentials(string proxyUrl, string runtimeId)
    {
        var uri = new Uri(proxyUrl);
        return $"{uri.Scheme}://{runtimeId}:<token>@{uri.Authority}";
    }

    private static IResult? ReadVaultIds(JsonBody body, out List<string>? vaultIds)
    {
        if (!body.TryGetStringArray("vault_ids", out vaultIds, out var error))
        {
            return ApiResults.BadRequest(error!);
        }

        if (vaultIds is null)
        {
            return null;
        }

        if (vaultIds.Count > MaxVaultsPerRuntime)
        {
            return ApiResults.BadRequest($"vault_ids must hold at most {MaxVaultsPerRuntime} vaults");
        }

        if (vaultIds.Find(id => !ResourceId.IsValid(id, ResourceId.Vault)) is not null)
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        return vaultIds.Distinct(StringComparer.Ordinal).Count() != vaultIds.Count
            ? ApiResults.BadRequest("vault_ids must not repeat a vault")
            : null;
    }
}
