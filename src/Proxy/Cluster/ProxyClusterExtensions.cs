using VaultGrains.Hosting;
using VaultGrains.Hosting.Audit;
using VaultGrains.Proxy.Release;
using VaultGrains.Proxy.Tls;

namespace VaultGrains.Proxy.Cluster;

public static class ProxyClusterExtensions
{
    /// <summary>
    /// Connects the proxy to the cluster: runtimes and the proxy CA come from the grains; release
    /// events and failed-authentication summaries go to the audit trail.
    /// </summary>
    public static WebApplicationBuilder AddVaultProxyCluster(this WebApplicationBuilder builder)
    {
        // The proxy's calls are small reads; one that gets no answer within 3 s is answered 502.
        builder.AddVaultClusterClient(TimeSpan.FromSeconds(3));
        builder.Services.AddSingleton<ClusterRuntimeDirectory>();
        builder.Services.AddSingleton<IRuntimeDirectory>(provider => provider.GetRequiredService<ClusterRuntimeDirectory>());
        builder.Services.AddSingleton<IProxyCertificateAuthority, ClusterProxyCertificateAuthority>();
        builder.Services.AddSingleton<LoggingReleaseEventSink>();
        builder.Services.AddSingleton<AuditingReleaseEventSink>();
        builder.Services.AddSingleton<IReleaseEventSink>(provider => provider.GetRequiredService<AuditingReleaseEventSink>());
        builder.Services.AddHostedService(provider => provider.GetRequiredService<AuditingReleaseEventSink>());
        builder.Services.AddFailedAuthenticationAudit(builder.Configuration);
        return builder;
    }
}
