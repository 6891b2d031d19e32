using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Configuration;
using Orleans.Configuration;
using VaultGrains.Hosting.ClusterTls;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// The service as operators run it: silo processes and an API process started from the build
/// output with <c>dotnet</c>, on loopback, clustered through the Azure Table membership of an
/// Azurite of their own (which tests may stop). Every process is killed when the fixture ends,
/// and when the test host exits for any reason.
/// </summary>
public sealed class ProcessCluster : IAsyncLifetime
{
    public const string AdminToken = "process-cluster-admin-token-0123456789";
    private readonly string suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private readonly string keyFile = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key");
    private readonly List<SiloProcess> silos = [];
    private IHost? observer;

    public AzuriteInstance Azurite { get; private set; } = null!;

    public ServiceProcess Api { get; private set; } = null!;

    public Uri ApiAddress { get; private set; } = null!;

    public IReadOnlyList<SiloProcess> Silos => silos;

    public IEnumerable<SiloProcess> LiveSilos => silos.Where(s => !s.Process.HasExited);

    private string ClusterId => "proc-" + suffix;

    private string ServiceId => "svc-" + suffix;

    private string Prefix => "p" + suffix;

    public async Task InitializeAsync()
    {
        Azurite = AzuriteInstance.Start();
        await Task.WhenAll(StartSiloAsync(), StartSiloAsync());
        ApiAddress = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        await EnsureApiAsync();
    }

    /// <summary>Starts the API process (on the same address) unless it is running, and waits until it is healthy.</summary>
    public async Task EnsureApiAsync()
    {
        if (Api is { HasExited: false })
        {
            return;
        }

        if (Api is not null)
        {
            await Api.DisposeAsync();
        }

        Api = ServiceProcess.Start("api", ServiceProcess.BuildOutput("Api", "VaultGrains.Api"), new Dictionary<string, string>(CommonSettings().Concat(TestClusterTls.Environment("api")))
        {
            ["ASPNETCORE_URLS"] = ApiAddress.ToString(),
            ["Admin__Token"] = AdminToken,
        });
        await WaitUntilAsync(async () => await IsHealthyAsync(new Uri(ApiAddress, "/healthz")), TimeSpan.FromSeconds(90), "the API did not become healthy");
    }

    public async Task DisposeAsync()
    {
        if (observer is not null)
        {
            await observer.StopAsync();
            observer.Dispose();
        }

        var all = silos.Select(s => s.Process).Append(Api).OfType<ServiceProcess>().Where(p => !p.Disposed);
        await Task.WhenAll(all.Select(p => p.DisposeAsync().AsTask()));
        await Azurite.DisposeAsync();
    }

    /// <summary>Starts one more silo and waits until it reports itself an Active member of the cluster.</summary>
    public async Task<SiloProcess> StartSiloAsync()
    {
        var siloPort = TestStorage.FreePort();
        var healthPort = TestStorage.FreePort();
        var number = silos.Count + 1;
        var process = ServiceProcess.Start($"silo{number}", ServiceProcess.BuildOutput("Silo", "VaultGrains.Silo"), new Dictionary<string, string>(CommonSettings().Concat(TestClusterTls.Environment("silo")))
        {
            ["Orleans__SiloPort"] = $"{siloPort}",
            ["Orleans__GatewayPort"] = $"{TestStorage.FreePort()}",
            ["Health__Port"] = $"{healthPort}",
            ["Encryption__Provider"] = "Local",
            ["Encryption__Local__KeyFile"] = keyFile,
        });
        var silo = new SiloProcess(process, siloPort, new Uri($"http://127.0.0.1:{healthPort}/healthz"));
        lock (silos)
        {
            silos.Add(silo);
        }

        await WaitUntilAsync(() => IsHealthyAsync(silo.Health), TimeSpan.FromSeconds(90), $"{process.Name} did not become an active member");
        return silo;
    }

    /// <summary>Makes sure at least <paramref name="count"/> silos are alive, starting more if needed.</summary>
    public async Task EnsureSilosAsync(int count)
    {
        while (LiveSilos.Count() < count)
        {
            await StartSiloAsync();
        }
    }

    /// <summary>Which silo hosts each of the given vaults now (asked of the cluster's management grain).</summary>
    public async Task<Dictionary<string, SiloProcess?>> LocateVaultsAsync(IEnumerable<string> vaultIds)
    {
        var client = await ObserverAsync();
        var management = client.GetGrain<IManagementGrain>(0);
        var located = new Dictionary<string, SiloProcess?>();
        foreach (var vaultId in vaultIds)
        {
            var address = await management.GetActivationAddress(client.GetGrain<IVaultGrain>(vaultId));
            located[vaultId] = silos.FirstOrDefault(s => address is not null && s.SiloPort == address.Endpoint.Port);
        }

        return located;
    }

    public HttpClient CreateClient(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = ApiAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>A new organization and API key, and <paramref name="vaults"/> vaults in it.</summary>
    public async Task<(HttpClient Client, string[] VaultIds)> NewTenantAsync(int vaults)
    {
        using var admin = CreateClient(AdminToken);
        var organization = await ReadAsync(await admin.PostAsJsonAsync("/api/admin/v1/organizations", new { name = "Ops" }));
        var organizationId = organization.GetProperty("id").GetString()!;
        var key = await ReadAsync(await admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organizationId}/api-keys", new { name = "load" }));
        var client = CreateClient(key.GetProperty("key").GetString());
        var ids = new string[vaults];
        for (var i = 0; i < vaults; i++)
        {
            ids[i] = (await ReadAsync(await client.PostAsJsonAsync("/api/public/v1/vaults", new { name = $"v{i}" }))).GetProperty("id").GetString()!;
        }

        return (client, ids);
    }

    /// <summary>Every process's recent output, for a failure message.</summary>
    public string Diagnostics() =>
        string.Join("\n", silos.Select(s => s.Process.RecentOutput).Append(Api?.RecentOutput ?? ""));

    public static async Task<bool> IsHealthyAsync(Uri health)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            return (await http.GetAsync(health)).StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    public static Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan limit, string failure) => WaitUntilAsync(condition, limit, () => failure);

    /// <summary>As above; the failure is written when the limit passes, so it can hold what the processes printed meanwhile.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan limit, Func<string> failure)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(failure());
            }

            await Task.Delay(200);
        }
    }

    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private Dictionary<string, string> CommonSettings() => new()
    {
        ["Storage__ConnectionString"] = Azurite.ConnectionString,
        ["Storage__Prefix"] = Prefix,
        ["Orleans__Clustering"] = "AzureStorage",
        ["Orleans__ClusterId"] = ClusterId,
        ["Orleans__ServiceId"] = ServiceId,
        ["Logging__LogLevel__Default"] = "Warning",
        ["Logging__LogLevel__VaultGrains"] = "Information",
    };

    // An Orleans client of the test itself, only to ask where grains live.
    private async Task<IClusterClient> ObserverAsync()
    {
        if (observer is null)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(TestClusterTls.Settings("api"));
            builder.UseOrleansClient(client =>
            {
                client.UseVaultClusterTls();
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = ClusterId;
                    o.ServiceId = ServiceId;
                });
                client.UseAzureStorageClustering(o =>
                {
                    o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(Azurite.ConnectionString);
                    o.TableName = $"{Prefix}cluster";
                });
            });
            observer = builder.Build();
            await observer.StartAsync();
        }

        return observer.Services.GetRequiredService<IClusterClient>();
    }
}

/// <summary>A silo process, its silo port (how the cluster names it) and its health endpoint.</summary>
public sealed record SiloProcess(ServiceProcess Process, int SiloPort, Uri Health);
