using System.CommandLine;
using System.Text.Json.Nodes;
using VaultGrains.Cli.Input;
using VaultGrains.Cli.Output;

namespace VaultGrains.Cli.Commands;

/// <summary>
/// <c>secrets list|show|set|rotate|delete|import</c>. A value is read from standard input, a file
/// (<c>--value-file</c>) or a prompt that does not echo; never from an argument. No command prints a value.
/// </summary>
public static class SecretCommands
{
    public static Command Build()
    {
        var secrets = new Command("secrets", "Store, list, rotate and delete secrets; import a .env file");
        secrets.Subcommands.Add(List());
        secrets.Subcommands.Add(Show());
        secrets.Subcommands.Add(Set());
        secrets.Subcommands.Add(Rotate());
        secrets.Subcommands.Add(Delete());
        secrets.Subcommands.Add(SecretImportCommand.Build());
        return secrets;
    }

    public static string Describe(JsonNode secret) => Printer.Fields(
        ("id", Printer.Text(secret["id"])),
        ("env_key", Printer.Text(secret["env_key"])),
        ("allowed_domains", DomainsText(secret["allowed_domains"])),
        ("created", Printer.Text(secret["created_at"])),
        ("updated", Printer.Text(secret["updated_at"])));

    private static string DomainsText(JsonNode? domains) => domains is JsonArray { Count: > 0 } ? Printer.Text(domains) : "(any host)";

    private static Option<string?> ValueFileOption() => new("--value-file")
    {
        Description = "Read the value from this file, exactly as it is ('-' for standard input). Without it: standard input when it is not a terminal, less one trailing newline; else a prompt that does not echo",
        HelpName = "FILE",
    };

    private static Command List()
    {
        var vault = CommandActions.VaultOption();
        var command = new Command("list", "The vault's secrets (never their values), oldest first") { vault };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var vaultId = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var answer = await api.GetAsync($"vaults/{vaultId}/secrets", cancellationToken);
            printer.Print(answer.Text, () =>
            {
                var table = new Table("ID", "ENV_KEY", "ALLOWED_DOMAINS", "UPDATED");
                foreach (var secret in answer.Array.OfType<JsonObject>())
                {
                    table.Add(Printer.Text(secret["id"]), Printer.Text(secret["env_key"]), DomainsText(secret["allowed_domains"]), Printer.Text(secret["updated_at"]));
                }

                return table.ToString();
            });
        });
        return command;
    }

    private static Command Show()
    {
        var secret = new Argument<string>("SECRET") { Description = "The secret's id (sec_…) or env_key" };
        var vault = CommandActions.VaultOption();
        var command = new Command("show", "Show one secret (never its value)") { secret, vault };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var vaultId = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var secretId = await Resolve.SecretAsync(api, vaultId, parse.GetValue(secret)!, cancellationToken);
            var answer = await api.GetAsync($"vaults/{vaultId}/secrets/{secretId}", cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command Set()
    {
        var envKey = new Argument<string>("ENV_KEY") { Description = "The environment variable name the secret is for" };
        var vault = CommandActions.VaultOption();
        var domains = CommandActions.DomainsOption("Hosts the value may be sent to (allowed_domains); without it, any host");
        var valueFile = ValueFileOption();
        var command = new Command("set", "Store a new secret; the value comes from standard input, --value-file or a prompt") { envKey, vault, domains, valueFile };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var vaultId = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var body = new JsonObject
            {
                ["env_key"] = parse.GetValue(envKey),
                ["value"] = SecretInput.Read("value", parse.GetValue(valueFile)),
            };
            if (CommandActions.Domains(parse.GetValue(domains)) is { } list)
            {
                body["allowed_domains"] = new JsonArray(list.Select(d => (JsonNode?)d).ToArray());
            }

            var answer = await api.PostAsync($"vaults/{vaultId}/secrets", body, cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command Rotate()
    {
        var secret = new Argument<string>("SECRET") { Description = "The secret's id (sec_…) or env_key" };
        var vault = CommandActions.VaultOption();
        var domains = CommandActions.DomainsOption("Replace allowed_domains too ('' for any host)");
        var valueFile = ValueFileOption();
        var command = new Command("rotate", "Give a secret a new value (and optionally new allowed_domains)") { secret, vault, domains, valueFile };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var vaultId = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var secretId = await Resolve.SecretAsync(api, vaultId, parse.GetValue(secret)!, cancellationToken);
            var body = new JsonObject { ["value"] = SecretInput.Read("new value", parse.GetValue(valueFile)) };
            if (CommandActions.Domains(parse.GetValue(domains)) is { } list)
            {
                body["allowed_domains"] = new JsonArray(list.Select(d => (JsonNode?)d).ToArray());
            }

            var answer = await api.PatchAsync($"vaults/{vaultId}/secrets/{secretId}", body, cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command Delete()
    {
        var secret = new Argument<string>("SECRET") { Description = "The secret's id (sec_…) or env_key" };
        var vault = CommandActions.VaultOption();
        var command = new Command("delete", "Delete a secret, permanently") { secret, vault };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var vaultId = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var secretId = await Resolve.SecretAsync(api, vaultId, parse.GetValue(secret)!, cancellationToken);
            await api.DeleteAsync($"vaults/{vaultId}/secrets/{secretId}", cancellationToken);
            printer.Print(new JsonObject { ["deleted"] = secretId }, () => $"Deleted secret {secretId}.\n");
        });
        return command;
    }
}
