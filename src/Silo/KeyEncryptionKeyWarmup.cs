using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Silo;

/// <summary>
/// Builds the key protector at start, so a local key file exists (and a bad one fails) before the
/// first request. Key Vault is not called here: a silo must start while Key Vault is down.
/// </summary>
internal sealed class KeyEncryptionKeyWarmup(IServiceProvider services, ILogger<KeyEncryptionKeyWarmup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var protector = services.GetRequiredService<VaultKeyProtector>();
        logger.LogInformation("Vault keys are wrapped with key {KeyId}", protector.CurrentKeyId);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
