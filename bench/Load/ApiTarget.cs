using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace VaultGrains.Bench.Load;

/// <summary>An organization with its API key, ready to own vaults.</summary>
internal sealed record Tenant(string OrganizationId, string Authorization);

/// <summary>A vault the benchmark created, with its ready-made addresses.</summary>
internal sealed class BenchVault(Tenant tenant, string id, Uri baseUri)
{
    public string Id { get; } = id;

    public Tenant Tenant { get; } = tenant;

    public Uri Secrets { get; } = new(baseUri, $"api/public/v1/vaults/{id}/secrets");

    public Uri Secret(string secretId) => new(baseUri, $"api/public/v1/vaults/{Id}/secrets/{secretId}");
}

/// <summary>What a create answered, classified.</summary>
internal enum CreateStatus
{
    Created,
    EnvKeyExists,
    VaultFull,
    /// <summary>Anything else: counted as an error. A 5xx or a timeout may or may not have stored the secret.</summary>
    Failed,
}

internal readonly record struct CreateReply(CreateStatus Status, string? SecretId, string? Failure);

/// <summary>
/// One HTTP server under test (the service or the ceiling): the admin calls that set a run up and
/// the public calls the scenarios make, over one keep-alive connection pool of the run's size.
/// </summary>
internal sealed class ApiTarget : IDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private readonly HttpClient http;
    private readonly string adminAuthorization;

    public ApiTarget(string name, Uri baseUri, string adminToken, int connections)
    {
        Name = name;
        BaseUri = baseUri;
        adminAuthorization = "Bearer " + adminToken;
        http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseCookies = false,
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    public string Name { get; }

    public Uri BaseUri { get; }

    public async Task<Tenant> CreateTenantAsync(string name)
    {
        var organization = await PostAsync("api/admin/v1/organizations", adminAuthorization, $$"""{"name":"{{name}}"}""");
        var organizationId = organization.GetProperty("id").GetString()!;
        var key = await PostAsync($"api/admin/v1/organizations/{organizationId}/api-keys", adminAuthorization, """{"name":"bench"}""");
        return new Tenant(organizationId, "Bearer " + key.GetProperty("key").GetString()!);
    }

    public async Task<BenchVault> CreateVaultAsync(Tenant tenant, string name)
    {
        var vault = await PostAsync("api/public/v1/vaults", tenant.Authorization, $$"""{"name":"{{name}}"}""");
        return new BenchVault(tenant, vault.GetProperty("id").GetString()!, BaseUri);
    }

    /// <summary>A create with a body of its own: env_key, value and one domain pattern, as a typical client sends.</summary>
    public async Task<CreateReply> CreateSecretAsync(BenchVault vault, string envKey, string value, CancellationToken cancellationToken = default, string allowedDomain = "*.example.com")
    {
        var body = Encoding.UTF8.GetBytes($$"""{"env_key":"{{envKey}}","value":"{{value}}","allowed_domains":["{{allowedDomain}}"]}""");
        using var request = new HttpRequestMessage(HttpMethod.Post, vault.Secrets) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = Json;
        request.Headers.TryAddWithoutValidation("Authorization", vault.Tenant.Authorization);
        using var response = await http.SendAsync(request, cancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        return response.StatusCode switch
        {
            HttpStatusCode.Created => new CreateReply(CreateStatus.Created, ReadId(bytes), null),
            HttpStatusCode.BadRequest when Contains(bytes, "env_key already exists"u8) => new CreateReply(CreateStatus.EnvKeyExists, null, null),
            HttpStatusCode.BadRequest when Contains(bytes, "vault is full"u8) => new CreateReply(CreateStatus.VaultFull, null, null),
            var status => new CreateReply(CreateStatus.Failed, null, $"{(int)status} {Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(bytes.Length, 80)))}"),
        };
    }

    /// <summary>A GET whose body is read in full; null when it answered 200, else why not.</summary>
    public async Task<string?> GetAsync(Uri uri, Tenant tenant, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.TryAddWithoutValidation("Authorization", tenant.Authorization);
        using var response = await http.SendAsync(request, cancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        return response.StatusCode == HttpStatusCode.OK ? null : $"{(int)response.StatusCode} {Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(bytes.Length, 80)))}";
    }

    public async Task<bool> DeleteSecretAsync(BenchVault vault, string secretId, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, vault.Secret(secretId));
        request.Headers.TryAddWithoutValidation("Authorization", vault.Tenant.Authorization);
        using var response = await http.SendAsync(request, cancellationToken);
        return response.StatusCode == HttpStatusCode.NoContent;
    }

    /// <summary>The ids of the vault's secrets, as listed.</summary>
    public async Task<IReadOnlyList<string>> ListSecretIdsAsync(BenchVault vault)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, vault.Secrets);
        request.Headers.TryAddWithoutValidation("Authorization", vault.Tenant.Authorization);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"{Name}: listing vault {vault.Id} answered {(int)response.StatusCode} {text}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.EnumerateArray().Select(s => s.GetProperty("id").GetString()!).ToArray();
    }

    /// <summary>A runtime holding <paramref name="vault"/>: its id and its proxy token.</summary>
    public async Task<(string Id, string Token)> CreateRuntimeAsync(BenchVault vault, string name)
    {
        var runtime = await PostAsync("api/public/v1/runtimes", vault.Tenant.Authorization, $$"""{"name":"{{name}}","vault_ids":["{{vault.Id}}"]}""");
        return (runtime.GetProperty("id").GetString()!, runtime.GetProperty("token").GetString()!);
    }

    /// <summary>What an agent is given: proxy URL, placeholders and the proxy CA.</summary>
    public async Task<JsonElement> GetRuntimeEnvironmentAsync(Tenant tenant, string runtimeId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, $"api/public/v1/runtimes/{runtimeId}/environment"));
        request.Headers.TryAddWithoutValidation("Authorization", tenant.Authorization);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"{Name}: the environment of runtime {runtimeId} answered {(int)response.StatusCode}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    public void Dispose() => http.Dispose();

    private async Task<JsonElement> PostAsync(string path, string authorization, string json)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseUri, path)) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.Created)
            {
                using var document = JsonDocument.Parse(text);
                return document.RootElement.Clone();
            }

            // Setup retries what the API calls retryable; anything else is a broken run.
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt == 5)
            {
                throw new InvalidOperationException($"{Name}: POST {path} answered {(int)response.StatusCode} {text}");
            }

            await Task.Delay(200 * attempt);
        }
    }

    private static bool Contains(byte[] bytes, ReadOnlySpan<byte> text) => bytes.AsSpan().IndexOf(text) >= 0;

    // The created secret's id, without parsing the whole body: {"id":"sec_…", …}.
    private static string? ReadId(byte[] bytes)
    {
        var span = bytes.AsSpan();
        var at = span.IndexOf("\"id\":\""u8);
        if (at < 0)
        {
            return null;
        }

        var rest = span[(at + 6)..];
        var end = rest.IndexOf((byte)'"');
        return end < 0 ? null : Encoding.ASCII.GetString(rest[..end]);
    }
}
