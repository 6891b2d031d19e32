using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using VaultGrains.Hosting;
using VaultGrains.Silo;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// The API (WebApplicationFactory over the real Program) talking as an Orleans client to a real
/// silo host built by the production <c>AddVaultSilo</c>, both on Azure Table clustering and
/// Azure storage in Azurite. Every log line of both hosts is captured.
/// </summary>
public class ApiFixture : IAsyncLifetime
{
    public const string AdminToken = "test-admin-token-0123456789";
    private readonly string keyFile = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key");
    private IHost? silo;
    private WebApplicationFactory<Program>? api;

    public StorageOptions Storage { get; } = TestStorage.NewStorage();

    public CapturedLogs Logs { get; } = new();

    /// <summary>Every response body the fixture's clients received, to check none carries a secret value.</summary>
    public ResponseLog Responses { get; } = new();

    public HttpClient Client { get; private set; } = null!;

    public Dictionary<string, string?> Settings { get; } = new();

    /// <summary>The silo's services (grain factory, serializer) for tests that set up data or read storage directly.</summary>
    public IServiceProvider SiloServices => silo?.Services ?? api!.Services;

    /// <summary>With <c>Api:HostSilo</c> in <see cref="Settings"/> the API is the silo: no silo host of its own is started.</summary>
    private bool ApiHostsSilo => Settings.TryGetValue("Api:HostSilo", out var hostSilo) && hostSilo == "true";

    /// <summary>The API's services (endpoint data source, options).</summary>
    public IServiceProvider ApiServices => api!.Services;

    public virtual async Task InitializeAsync()
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        Settings["Storage:ConnectionString"] = Storage.ConnectionString;
        Settings["Storage:Prefix"] = Storage.Prefix;
        Settings["Orleans:Clustering"] = "AzureStorage";
        Settings["Orleans:ClusterId"] = "c-" + suffix;
        Settings["Orleans:ServiceId"] = "svc-" + suffix;
        Settings["Orleans:SiloPort"] = TestStorage.FreePort().ToString();
        Settings["Orleans:GatewayPort"] = TestStorage.FreePort().ToString();
        Settings["Encryption:Provider"] = "Local";
        Settings["Encryption:Local:KeyFile"] = keyFile;
        Settings["Admin:Token"] = AdminToken;
        foreach (var (key, value) in TestClusterTls.Settings("api"))
        {
            Settings[key] = value;
        }

        ConfigureSettings(Settings);
        await StartAsync();
    }

    public virtual async Task DisposeAsync() => await StopAsync();

    /// <summary>For fixtures that change the configuration both hosts start with.</summary>
    protected virtual void ConfigureSettings(Dictionary<string, string?> settings)
    {
    }

    /// <summary>For fixtures that replace silo services (after the production registrations).</summary>
    protected virtual void ConfigureSilo(IServiceCollection services)
    {
    }

    /// <summary>For fixtures that add API services (after the production registrations) to every API instance.</summary>
    protected virtual void ConfigureApi(IServiceCollection services)
    {
    }

    /// <summary>Stops the API and the silo, then starts both again on the same storage and ServiceId.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        Settings["Orleans:ClusterId"] = "c-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        await StartAsync();
    }

    public HttpClient CreateClient(string? bearer = null) => CreateClient(api!, bearer);

    /// <summary>A client of another API instance (see <see cref="CreateApiInstance"/>), recorded like the others.</summary>
    public HttpClient CreateClient(WebApplicationFactory<Program> instance, string? bearer = null)
    {
        var client = instance.CreateDefaultClient(new ResponseRecorder(Responses));
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>One more API front end on the same cluster and storage, as a second instance behind a load balancer. The caller disposes it.</summary>
    public WebApplicationFactory<Program> CreateApiInstance(Action<IServiceCollection>? configureServices = null) =>
        NewApiFactory(configureServices);

    /// <summary>A new organization and an API key for it: a client ready to call the public API.</summary>
    public async Task<(string OrganizationId, HttpClient Client, string KeyId)> NewTenantAsync(string name = "Acme")
    {
        var admin = CreateClient(AdminToken);
        var organization = await ReadAsync(await admin.PostAsJsonAsync("/api/admin/v1/organizations", new { name }));
        var organizationId = organization.GetProperty("id").GetString()!;
        var key = await ReadAsync(await admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organizationId}/api-keys", new { name = "test" }));
        return (organizationId, CreateClient(key.GetProperty("key").GetString()), key.GetProperty("id").GetString()!);
    }

    public static async Task<string> CreateVaultAsync(HttpClient client, string name = "Production")
    {
        var vault = await ReadAsync(await client.PostAsJsonAsync("/api/public/v1/vaults", new { name }));
        return vault.GetProperty("id").GetString()!;
    }

    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task StartAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(Settings).AddInMemoryCollection(TestClusterTls.Settings("silo"));
        builder.Logging.ClearProviders().AddProvider(Logs).SetMinimumLevel(LogLevel.Trace);
        if (!ApiHostsSilo)
        {
            builder.AddVaultSilo();
            ConfigureSilo(builder.Services);
            silo = builder.Build();
            await silo.StartAsync();
        }

        api = NewApiFactory(null);
        Client = CreateClient();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await Client.GetAsync("/healthz")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "the API did not become healthy");
            await Task.Delay(200);
        }
    }

    private WebApplicationFactory<Program> NewApiFactory(Action<IServiceCollection>? configureServices) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in Settings)
            {
                web.UseSetting(key, value);
            }

            web.UseEnvironment("Development");
            web.ConfigureLogging(logging => logging.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
            web.ConfigureServices(services =>
            {
                if (ApiHostsSilo)
                {
                    ConfigureSilo(services);
                }

                ConfigureApi(services);
                configureServices?.Invoke(services);
            });
        });

    private async Task StopAsync()
    {
        if (api is not null)
        {
            await api.DisposeAsync();
            api = null;
        }

        if (silo is not null)
        {
            await silo.StopAsync();
            silo.Dispose();
            silo = null;
        }
    }
}

/// <summary>Every response (body and headers) the fixture's clients received.</summary>
public sealed class ResponseLog
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> bodies = new();

    public IReadOnlyCollection<string> Bodies => bodies;

    public void Add(string response) => bodies.Enqueue(response);
}

/// <summary>Copies every response that passes through one client into the log.</summary>
public sealed class ResponseRecorder(ResponseLog log) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        log.Add(body + "\n" + response.Headers + response.Content.Headers);
        return response;
    }
}
