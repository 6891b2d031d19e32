using VaultGrains.Domain;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>Releases values the only way the cluster allows: through a runtime that holds the vault and its token.</summary>
public static class TestRuntimes
{
    /// <summary>A new runtime of the organization holding <paramref name="vaultIds"/>; returns its id and token hash.</summary>
    public static async Task<(string RuntimeId, string TokenHash)> AttachAsync(IGrainFactory grains, string organizationId, params string[] vaultIds)
    {
        var runtimeId = ResourceId.New(ResourceId.Runtime);
        var tokenHash = CredentialFormat.Hash(Credentials.RuntimeToken.Generate());
        var created = await grains.GetGrain<IOrganizationGrain>(organizationId).CreateRuntime(new NewRuntime(runtimeId, "test runtime", vaultIds, tokenHash));
        Assert.True(created.Succeeded, created.Error.ToString());
        return (runtimeId, tokenHash);
    }

    /// <summary>The released value of one secret, or the error that stopped the release (<see cref="VaultError.SecretNotFound"/> when the release left it out).</summary>
    public static async Task<(VaultError Error, string? Value)> ReleaseAsync(IGrainFactory grains, (string RuntimeId, string TokenHash) runtime, string secretId)
    {
        var reply = await grains.GetGrain<IRuntimeGrain>(runtime.RuntimeId).Release(runtime.TokenHash);
        if (!reply.Succeeded)
        {
            return (reply.Error, null);
        }

        return reply.Value!.Secrets.FirstOrDefault(s => s.SecretId == secretId) is { } secret
            ? (VaultError.None, secret.Value.Plaintext)
            : (VaultError.SecretNotFound, null);
    }

    /// <summary>Attaches a runtime to the vault, releases one secret through it and deletes the runtime again, leaving the vault unattached.</summary>
    public static async Task<(VaultError Error, string? Value)> ReleaseOnceAsync(IGrainFactory grains, string organizationId, string vaultId, string secretId)
    {
        var runtime = await AttachAsync(grains, organizationId, vaultId);
        try
        {
            return await ReleaseAsync(grains, runtime, secretId);
        }
        finally
        {
            Assert.True((await grains.GetGrain<IOrganizationGrain>(organizationId).DeleteRuntime(runtime.RuntimeId)).Succeeded);
        }
    }
}
