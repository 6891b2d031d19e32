using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using VaultGrains.Hosting.ClusterTls;

namespace VaultGrains.Hosting;

public static class ClusterClientExtensions
{
    /// <summary>
    /// Makes this process an Orleans client of the VaultGrains cluster (the API and the secret proxy):
    /// the same membership table as the silos, calls bounded by <paramref name="responseTimeout"/>, and
    /// no start-up failure when no silo is up yet.
    /// </summary>
    public static IHostApplicationBuilder AddVaultClusterClient(this IHostApplicationBuilder builder, TimeSpan responseTimeout, Action<IClientBuilder>? configure = null)
    {
        var (storage, cluster) = builder.Services.AddVaultSettings(builder.Configuration);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(options =>
            {
                options.ClusterId = cluster.ClusterId;
                options.ServiceId = cluster.ServiceId;
            });
            if (cluster.Clustering == ClusterSettings.Localhost)
            {
                client.UseLocalhostClustering(cluster.GatewayPort);
            }
            else
            {
                client.UseAzureStorageClustering(options =>
                {
                    options.TableServiceClient = storage.CreateTableServiceClient();
                    options.TableName = storage.ClusterTable;
                });
            }

            // A call to a silo that was just killed gets no answer at all: do not wait Orleans' default 30 s.
            client.Configure<ClientMessagingOptions>(options => options.ResponseTimeout = responseTimeout);
            client.UseVaultClusterTls();

            // New silos' gateways are picked up within seconds of joining (default: a minute).
            client.Configure<GatewayOptions>(options => options.GatewayListRefreshPeriod = TimeSpan.FromSeconds(10));

            // The client may start before any silo: keep trying rather than fail start-up.
            client.UseConnectionRetryFilter(async (_, cancellationToken) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                return true;
            });
            // W3C trace context travels with each grain call into the silo.
            client.AddActivityPropagation();
            configure?.Invoke(client);
        });
        return builder;
    }
}
