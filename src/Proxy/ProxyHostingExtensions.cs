using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using VaultGrains.Hosting.Audit;
using VaultGrains.Hosting.Telemetry;
using VaultGrains.Proxy.Destinations;
using VaultGrains.Proxy.Forwarding;
using VaultGrains.Proxy.Release;
using VaultGrains.Proxy.Tls;
using VaultGrains.Proxy.Tunnel;

namespace VaultGrains.Proxy;

/// <summary>Setup of the secret proxy: its options, destination rules, TLS, forwarder and listener.</summary>
public static class ProxyHostingExtensions
{
    /// <summary>
    /// Adds the proxy and its Kestrel listener (<c>Proxy:Address</c>:<c>Proxy:Port</c>). The caller
    /// registers an <see cref="IRuntimeDirectory"/> and an <see cref="IProxyCertificateAuthority"/>;
    /// an <see cref="IReleaseEventSink"/> or <see cref="IHostAddressResolver"/> registered before this
    /// call replaces the default one.
    /// </summary>
    public static WebApplicationBuilder AddVaultProxy(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        services.AddOptions<ProxyOptions>().Bind(builder.Configuration.GetSection(ProxyOptions.Section)).ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IHostAddressResolver, DnsHostAddressResolver>();
        services.TryAddSingleton<IReleaseEventSink, LoggingReleaseEventSink>();
        // Counted here; written to the audit trail only when the cluster is there (AddVaultProxyCluster).
        services.AddFailedAuthenticationSummaries(builder.Configuration);
        services.AddSingleton(provider => provider.GetRequiredService<IOptions<ProxyOptions>>().Value.ToDestinationOptions());
        services.AddSingleton<DestinationPolicy>();
        services.AddSingleton(provider =>
        {
            var caFile = provider.GetRequiredService<IOptions<ProxyOptions>>().Value.UpstreamCaFile;
            X509Certificate2? authority = null;
            if (caFile is { Length: > 0 })
            {
                UpstreamTrust.TryLoadAuthority(caFile, out authority);
            }

            return new UpstreamTrust(authority);
        });
        services.AddSingleton<UpstreamInvoker>();
        services.AddSingleton<TunnelCertificates>();
        services.AddSingleton<ConnectTunnelMiddleware>();
        services.AddSingleton<ProxyRequestHandler>();
        services.AddHttpForwarder();

        // YARP logs each upstream URL at Information; inside a tunnel that URL holds released values.
        builder.Logging.AddFilter("Yarp.ReverseProxy.Forwarder", LogLevel.Warning);

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var provider = kestrel.ApplicationServices;
            var options = provider.GetRequiredService<IOptions<ProxyOptions>>().Value;
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Parse(options.Address), options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                var tls = ConnectTunnelMiddleware.TlsOptions(
                    provider.GetRequiredService<TunnelCertificates>(),
                    provider.GetRequiredService<ILogger<ConnectTunnelMiddleware>>());
                ConnectTunnelMiddleware.Attach(listen, provider.GetRequiredService<ConnectTunnelMiddleware>(), tls);
            });

            // The management listener (Management:Port, with AddVaultTelemetry): plain HTTP, /metrics only.
            if (provider.GetService<IOptions<ManagementOptions>>()?.Value is { Port: > 0 } management)
            {
                kestrel.Listen(management.EndPoint);
            }
        });
        return builder;
    }

    /// <summary>Answers every request on the proxy listener: tunnel requests, plain <c>http://</c> forwards and <c>GET /healthz</c>.</summary>
    public static WebApplication MapVaultProxy(this WebApplication app)
    {
        _ = app.Services.GetService<IRuntimeDirectory>()
            ?? throw new InvalidOperationException("Register an IRuntimeDirectory before starting the proxy.");
        _ = app.Services.GetService<IProxyCertificateAuthority>()
            ?? throw new InvalidOperationException("Register an IProxyCertificateAuthority before starting the proxy.");
        var handler = app.Services.GetRequiredService<ProxyRequestHandler>();
        app.Run(handler.HandleAsync);
        return app;
    }
}
