using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using VaultGrains.Hosting.ClusterTls;

namespace VaultGrains.Silo;

public static class SiloClusterTlsExtensions
{
    /// <summary>
    /// Mutual TLS on the silo port (other silos only), the gateway port (any client of the cluster)
    /// and this silo's own connections to other silos, with the certificates of <c>Orleans:Tls</c>.
    /// </summary>
    public static ISiloBuilder UseVaultClusterTls(this ISiloBuilder silo)
    {
        if (!silo.Services.AddVaultClusterTlsOptions(silo.Configuration, ClusterRole.Silo))
        {
            return silo;
        }

        silo.Services.AddOptions<SiloConnectionOptions>().Configure<ClusterTlsCredentials>((options, credentials) =>
        {
            options.ConfigureSiloInboundConnection(connection => connection.UseServerTls(credentials.SiloInbound()));
            options.ConfigureGatewayInboundConnection(connection => connection.UseServerTls(credentials.GatewayInbound()));
            options.ConfigureSiloOutboundConnection(connection => connection.UseClientTls(credentials.Outbound()));
        });
        return silo;
    }
}
