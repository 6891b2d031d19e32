using Microsoft.AspNetCore.Mvc;
using VaultGrains.Api;
using VaultGrains.Api.Endpoints;
using VaultGrains.Domain;

namespace VaultGrains.Bench.Ceiling;

/// <summary>
/// The routes the benchmark drives, answered from memory with the API's own request reading,
/// validation, error mapping and JSON: what is left is the cost of an HTTP front end alone.
/// Setup routes (organizations, keys, vaults) check only what the benchmark needs.
/// </summary>
internal static class CeilingEndpoints
{
    private const string OrganizationItem = "ceiling.organization";

    public static WebApplicationBuilder AddCeiling(this WebApplicationBuilder builder)
    {
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<CeilingStore>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = SecretRules.MaxRequestBodyBytes);
        return builder;
    }

    public static WebApplication MapCeiling(this WebApplication app)
    {
        app.UseMiddleware<ErrorBoundary>();
        var adminToken = app.Configuration["VAULT_ADMIN_TOKEN"] ?? throw new InvalidOperationException("VAULT_ADMIN_TOKEN is required.");
        var admin = app.MapGroup("/api/admin/v1");
        admin.AddEndpointFilter((context, next) =>
            ApiKeyAuthentication.BearerToken(context.HttpContext.Request) == adminToken
                ? next(context)
                : ValueTask.FromResult<object?>(ApiResults.Error(StatusCodes.Status401Unauthorized, "invalid or missing admin token")));
        admin.MapPost("/organizations", CreateOrganization);
        admin.MapPost("/organizations/{org_id}/api-keys", CreateApiKey);

        var api = app.MapGroup("/api/public/v1");
        api.AddEndpointFilter(AuthenticateAsync);
        api.MapPost("/vaults", CreateVault);
        api.MapPost("/vaults/{vault_id}/secrets", CreateSecret);
        api.MapGet("/vaults/{vault_id}/secrets", ListSecrets);
        api.MapGet("/vaults/{vault_id}/secrets/{secret_id}", GetSecret);
        api.MapDelete("/vaults/{vault_id}/secrets/{secret_id}", DeleteSecret);
        app.MapGet("/healthz", () => Results.Json(new HealthResponse("healthy", "reachable", "reachable"), ApiJson.Options));
        return app;
    }

    private static async ValueTask<object?> AuthenticateAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var store = http.RequestServices.GetRequiredService<CeilingStore>();
        if (ApiKeyAuthentication.BearerToken(http.Request) is not { } key || !Credentials.ApiKey.IsWellFormed(key) || !store.ApiKeys.TryGetValue(CredentialFormat.Hash(key), out var organizationId))
        {
            return ApiResults.Error(StatusCodes.Status401Unauthorized, "invalid or missing API key");
        }

        http.Items[OrganizationItem] = organizationId;
        return await next(context);
    }

    private static string Caller(HttpContext http) => (string)http.Items[OrganizationItem]!;

    private static async Task<IResult> CreateOrganization(HttpContext http, CeilingStore store, TimeProvider clock)
    {
        if (await ReadNameAsync(http) is not { } name)
        {
            return ApiResults.BadRequest("name cannot be empty");
        }

        var organization = new OrganizationDetails(ResourceId.New(ResourceId.Organization), name, Now(clock));
        store.Organizations[organization.Id] = organization;
        return ApiResults.Ok(OrganizationResponse.From(organization), StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateApiKey([FromRoute(Name = "org_id")] string organizationId, HttpContext http, CeilingStore store, TimeProvider clock)
    {
        if (!store.Organizations.ContainsKey(organizationId))
        {
            return ApiResults.From(VaultError.OrganizationNotFound);
        }

        var name = await ReadNameAsync(http) ?? "key";
        var key = Credentials.ApiKey.Generate();
        store.ApiKeys[CredentialFormat.Hash(key)] = organizationId;
        return ApiResults.Ok(new CreatedApiKeyResponse(ResourceId.New(ResourceId.ApiKey), name, key, Timestamps.Format(Now(clock))), StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateVault(HttpContext http, CeilingStore store, TimeProvider clock)
    {
        if (await ReadNameAsync(http) is not { } name)
        {
            return ApiResults.BadRequest("name cannot be empty");
        }

        var now = Now(clock);
        var details = new VaultDetails(ResourceId.New(ResourceId.Vault), name, null, 0, now, now);
        store.Vaults[details.Id] = new CeilingVault(Caller(http), details);
        return ApiResults.Ok(VaultResponse.From(details), StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateSecret([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, CeilingStore store, TimeProvider clock)
    {
        if (!ResourceId.IsValid(vaultId, ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        var vault = Find(store, vaultId, Caller(http));
        var (body, bodyError) = await JsonBody.ReadAsync(http.Request);
        using (body)
        {
            var (secret, error) = body is null ? (null, bodyError) : SecretEndpoints.ReadNewSecret(body);
            if (vault is null)
            {
                return ApiResults.From(VaultError.VaultNotFound);
            }

            if (secret is null)
            {
                return error!;
            }

            var outcome = vault.TryAdd(secret, Now(clock), out var created);
            return outcome == VaultError.None
                ? ApiResults.Ok(SecretResponse.From(created), StatusCodes.Status201Created)
                : ApiResults.From(outcome);
        }
    }

    private static IResult ListSecrets([FromRoute(Name = "vault_id")] string vaultId, HttpContext http, CeilingStore store)
    {
        if (!ResourceId.IsValid(vaultId, ResourceId.Vault))
        {
            return ApiResults.BadRequest("invalid vault_id");
        }

        return Find(store, vaultId, Caller(http)) is { } vault
            ? ApiResults.Ok(vault.List().Select(SecretResponse.From).ToArray())
            : ApiResults.From(VaultError.VaultNotFound);
    }

    private static IResult GetSecret([FromRoute(Name = "vault_id")] string vaultId, [FromRoute(Name = "secret_id")] string secretId, HttpContext http, CeilingStore store)
    {
        if (CheckIds(vaultId, secretId) is { } invalid)
        {
            return invalid;
        }

        if (Find(store, vaultId, Caller(http)) is not { } vault)
        {
            return ApiResults.From(VaultError.VaultNotFound);
        }

        return vault.Find(secretId) is { } secret ? ApiResults.Ok(SecretResponse.From(secret)) : ApiResults.From(VaultError.SecretNotFound);
    }

    private static IResult DeleteSecret([FromRoute(Name = "vault_id")] string vaultId, [FromRoute(Name = "secret_id")] string secretId, HttpContext http, CeilingStore store)
    {
        if (CheckIds(vaultId, secretId) is { } invalid)
        {
            return invalid;
        }

        if (Find(store, vaultId, Caller(http)) is not { } vault)
        {
            return ApiResults.From(VaultError.VaultNotFound);
        }

        return vault.Remove(secretId) ? Results.NoContent() : ApiResults.From(VaultError.SecretNotFound);
    }

    private static CeilingVault? Find(CeilingStore store, string vaultId, string organizationId) =>
        store.Vaults.TryGetValue(vaultId, out var vault) && vault.OrganizationId == organizationId ? vault : null;

    private static IResult? CheckIds(string vaultId, string secretId) =>
        !ResourceId.IsValid(vaultId, ResourceId.Vault) ? ApiResults.BadRequest("invalid vault_id")
        : !ResourceId.IsValid(secretId, ResourceId.Secret) ? ApiResults.BadRequest("invalid secret_id")
        : null;

    private static async Task<string?> ReadNameAsync(HttpContext http)
    {
        var (body, _) = await JsonBody.ReadAsync(http.Request);
        using (body)
        {
            return body is not null && body.TryGetString("name", out var name, out _) && !string.IsNullOrWhiteSpace(name) ? name : null;
        }
    }

    private static DateTime Now(TimeProvider clock) => Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime);
}
