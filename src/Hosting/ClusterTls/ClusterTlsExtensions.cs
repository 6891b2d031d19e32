using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;

namespace VaultGrains.Hosting.ClusterTls;

public static class ClusterTlsExtensions
{
    /// <summary>
    /// Binds <c>Orleans:Tls</c> for a process of <paramref name="role"/>, validated at start (no
    /// certificate, no start, unless <c>Orleans:Tls:UnsafePlaintext</c>), and returns whether
    /// TLS is on. The certificates are read when Orleans opens its first connection, after validation.
    /// </summary>
    public static bool AddVaultClusterTlsOptions(this IServiceCollection services, IConfiguration configuration, ClusterRole role)
    {
        services.AddSingleton<IValidateOptions<ClusterTlsOptions>>(new ClusterTlsOptionsValidator(role));
        services.AddOptions<ClusterTlsOptions>().Bind(configuration.GetSection(ClusterTlsOptions.Section)).ValidateOnStart();
        services.AddSingleton(provider => ClusterTlsCredentials.Load(provider.GetRequiredService<IOptions<ClusterTlsOptions>>()));
        var unsafePlaintext = configuration.GetValue<bool>($"{ClusterTlsOptions.Section}:{nameof(ClusterTlsOptions.UnsafePlaintext)}");
        if (unsafePlaintext)
        {
            services.AddHostedService<PlaintextClusterWarning>();
        }

        return !unsafePlaintext;
    }

    /// <summary>Mutual TLS to the gateways, with this client's certificate (see <see cref="ClusterTlsOptions"/>).</summary>
    public static IClientBuilder UseVaultClusterTls(this IClientBuilder client)
    {
        if (!client.Services.AddVaultClusterTlsOptions(client.Configuration, ClusterRole.Client))
        {
            return client;
        }

        client.Services.AddOptions<ClientConnectionOptions>().Configure<ClusterTlsCredentials>((options, credentials) =>
            options.ConfigureConnection(connection => connection.UseClientTls(credentials.Outbound())));
        return client;
    }

    private sealed class PlaintextClusterWarning(ILogger<PlaintextClusterWarning> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            logger.LogWarning("Orleans:Tls:UnsafePlaintext is set: Orleans connections are neither encrypted nor authenticated; anyone who reaches a silo or gateway port can call every grain");
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
