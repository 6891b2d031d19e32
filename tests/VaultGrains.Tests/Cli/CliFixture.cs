using System.Net.Http.Json;
using VaultGrains.Proxy.Cluster;
using VaultGrains.Tests.Infrastructure;
using VaultGrains.Tests.Proxy;

namespace VaultGrains.Tests.Cli;

/// <summary>
/// What the command-line tool talks to, on real loopback ports: a silo (in-process, on Azurite), the
/// API as its own process started from the build output, the secret proxy (in-process, an Orleans
/// client of the same cluster, private addresses allowed and every test name resolved to 127.0.0.1)
/// and a TLS upstream that records what it receives. The API's <c>proxy_url</c> names that proxy.
/// </summary>
public sealed class CliFixture : ApiFixture
{
    public TestUpstream Upstream { get; } = new();

    public TestProxyHost Proxy { get; private set; } = null!;

    public ServiceProcess ApiProcess { get; private set; } = null!;

    public Uri ApiAddress { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Upstream.StartAsync();
        Proxy = await TestProxyHost.StartAsync(builder => builder.AddVaultProxyCluster(), new Dictionary<string, string?>(Settings)
        {
            ["Proxy:AllowPrivate"] = "true",
            ["Proxy:Resolve"] = ProxyFixture.ResolveAll("127.0.0.1"),
            ["Proxy:UpstreamCaFile"] = Upstream.AuthorityPemFile,
            ["Proxy:AllowedPorts"] = $"{Upstream.HttpsPort}",
        });

        ApiAddress = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        ApiProcess = ServiceProcess.Start("api", ServiceProcess.BuildOutput("Api", "VaultGrains.Api"), new Dictionary<string, string>(TestClusterTls.Environment("api"))
        {
            ["ASPNETCORE_URLS"] = ApiAddress.ToString(),
            ["Storage__ConnectionString"] = Settings["Storage:ConnectionString"]!,
            ["Storage__Prefix"] = Settings["Storage:Prefix"]!,
            ["Orleans__Clustering"] = "AzureStorage",
            ["Orleans__ClusterId"] = Settings["Orleans:ClusterId"]!,
            ["Orleans__ServiceId"] = Settings["Orleans:ServiceId"]!,
            ["Admin__Token"] = AdminToken,
            ["Proxy__ProxyUrl"] = Proxy.ProxyUri.ToString().TrimEnd('/'),
            ["Logging__LogLevel__Default"] = "Warning",
        });
        await ProcessCluster.WaitUntilAsync(
            () => ProcessCluster.IsHealthyAsync(new Uri(ApiAddress, "/healthz")), TimeSpan.FromSeconds(60), "the API process did not become healthy");
    }

    public override async Task DisposeAsync()
    {
        await ApiProcess.DisposeAsync();
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>A new organization and API key (made with the admin API of the API process); the key is returned, never passed to the tool as an argument.</summary>
    public async Task<string> NewApiKeyAsync()
    {
        using var admin = new HttpClient { BaseAddress = ApiAddress };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        var organization = await ReadAsync(await admin.PostAsJsonAsync("/api/admin/v1/organizations", new { name = "Cli" }));
        var key = await ReadAsync(await admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organization.GetProperty("id").GetString()}/api-keys", new { name = "cli" }));
        return key.GetProperty("key").GetString()!;
    }
}

[CollectionDefinition(nameof(CliCollection))]
public sealed class CliCollection : ICollectionFixture<CliFixture>;
