using System.Text.Json.Nodes;
using VaultGrains.Cli.Http;

namespace VaultGrains.Cli.Commands;

/// <summary>Ids or names: a vault or runtime can be named by its id or its name, a secret by its id or its env_key.</summary>
public static class Resolve
{
    public static Task<string> VaultAsync(VaultApi api, string idOrName, CancellationToken cancellationToken) =>
        ByFieldAsync(api, "vaults", "vlt_", "name", "vault", idOrName, cancellationToken);

    public static Task<string> RuntimeAsync(VaultApi api, string idOrName, CancellationToken cancellationToken) =>
        ByFieldAsync(api, "runtimes", "rtm_", "name", "runtime", idOrName, cancellationToken);

    public static Task<string> SecretAsync(VaultApi api, string vaultId, string idOrEnvKey, CancellationToken cancellationToken) =>
        ByFieldAsync(api, $"vaults/{vaultId}/secrets", "sec_", "env_key", "secret", idOrEnvKey, cancellationToken);

    private static async Task<string> ByFieldAsync(
        VaultApi api, string listPath, string idPrefix, string field, string kind, string idOrName, CancellationToken cancellationToken)
    {
        if (idOrName.StartsWith(idPrefix, StringComparison.Ordinal))
        {
            return idOrName;
        }

        var matches = (await api.GetAsync(listPath, cancellationToken)).Array
            .OfType<JsonObject>()
            .Where(item => (string?)item[field] == idOrName)
            .Select(item => (string)item["id"]!)
            .ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new CliException($"{kind} not found"),
            _ => throw new CliException($"{matches.Count} {kind}s have the {field.Replace('_', ' ')} '{idOrName}': use the id"),
        };
    }
}
