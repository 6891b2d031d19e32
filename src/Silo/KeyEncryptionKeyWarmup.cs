using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Silo;

/// <summary>Builds the key protector at start, so a local key file exists (and a bad one fails) before the first request.</summary>
internal sealed class KeyEncryptionKeyWarmup(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        services.GetRequiredService<VaultKeyProtector>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
