using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using VaultGrains.Proxy;
using VaultGrains.Proxy.Release;
using VaultGrains.Proxy.Tls;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// The real proxy host (AddVaultProxy/MapVaultProxy) in-process on a free loopback port, with the
/// given runtime directory and CA. Reusable with any <see cref="IRuntimeDirectory"/>, the
/// Orleans-backed one included.
/// </summary>
public sealed class TestProxyHost : IAsyncDisposable
{
    private readonly WebApplication app;

    private TestProxyHost(WebApplication app, int port, RecordingReleaseEventSink events, CapturedLogs logs)
    {
        this.app = app;
        Port = port;
        Events = events;
        Logs = logs;
    }

    public int Port { get; }

    public Uri ProxyUri => new($"http://127.0.0.1:{Port}");

    public RecordingReleaseEventSink Events { get; }

    public CapturedLogs Logs { get; }

    /// <summary>The proxy's services (its failed-authentication summary writer, for one).</summary>
    public IServiceProvider Services => app.Services;

    /// <summary>Starts a proxy; <paramref name="settings"/> are <c>Proxy:*</c> keys (Port defaults to 0, a free port).</summary>
    public static Task<TestProxyHost> StartAsync(IRuntimeDirectory directory, X509Certificate2 authority, IDictionary<string, string?> settings) =>
        StartAsync(
            builder =>
            {
                builder.Services.AddSingleton(directory);
                builder.Services.AddSingleton<IProxyCertificateAuthority>(new FixedCertificateAuthority(authority));
            },
            settings);

    /// <summary>Starts a proxy whose runtime directory and CA <paramref name="addDirectory"/> registers (the cluster-backed ones, for example).</summary>
    public static async Task<TestProxyHost> StartAsync(Action<WebApplicationBuilder> addDirectory, IDictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Proxy:Port"] = "0" });
        builder.Configuration.AddInMemoryCollection(settings);
        var logs = new CapturedLogs();
        builder.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        var events = new RecordingReleaseEventSink();

        // Registered first: a cluster-backed set-up that brings its own sink (the audit trail) wins.
        builder.Services.AddSingleton<IReleaseEventSink>(events);
        addDirectory(builder);
        builder.AddVaultProxy();
        var app = builder.Build();
        app.MapVaultProxy();
        await app.StartAsync();
        return new TestProxyHost(app, new Uri(app.Urls.Single()).Port, events, logs);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

/// <summary>A fixed proxy CA.</summary>
public sealed class FixedCertificateAuthority(X509Certificate2 authority) : IProxyCertificateAuthority
{
    public ValueTask<X509Certificate2> GetAuthorityAsync(CancellationToken cancellationToken) => ValueTask.FromResult(authority);
}

/// <summary>Keeps every release event.</summary>
public sealed class RecordingReleaseEventSink : IReleaseEventSink
{
    private readonly ConcurrentQueue<ReleaseEvent> events = new();

    public IReadOnlyCollection<ReleaseEvent> Events => events;

    public void Record(ReleaseEvent releaseEvent) => events.Enqueue(releaseEvent);

    public List<ReleaseEvent> ForPath(string marker) => events.Where(e => e.Path.Contains(marker, StringComparison.Ordinal)).ToList();
}

/// <summary>Runtimes in memory; tokens can be rotated to show a tunnel stops working.</summary>
public sealed class InMemoryRuntimeDirectory : IRuntimeDirectory
{
    private readonly ConcurrentDictionary<string, (string Token, RuntimeSecrets Secrets)> runtimes = new();

    public void Add(string token, RuntimeSecrets secrets) => runtimes[secrets.RuntimeId] = (token, secrets);

    public void Rotate(string runtimeId, string newToken) => runtimes.AddOrUpdate(runtimeId, _ => throw new KeyNotFoundException(), (_, old) => (newToken, old.Secrets));

    public ValueTask<RuntimeSecrets?> AuthenticateAsync(string runtimeId, string token, CancellationToken cancellationToken) =>
        ValueTask.FromResult(runtimes.TryGetValue(runtimeId, out var runtime) && runtime.Token == token ? runtime.Secrets : null);
}
