using System.CommandLine;
using System.Text.Json.Nodes;
using VaultGrains.Cli.Http;
using VaultGrains.Cli.Output;

namespace VaultGrains.Cli.Commands;

/// <summary>
/// <c>runtimes create|list|show|attach|detach|rotate-token|delete|env</c>. A runtime's token is shown
/// once, at create and rotate-token; <c>--token-file</c> writes it to a 0600 file instead of printing it.
/// </summary>
public static class RuntimeCommands
{
    public static Command Build()
    {
        var runtimes = new Command("runtimes", "Runtimes: deployments of an agent, the vaults they use, their proxy tokens and environment");
        runtimes.Subcommands.Add(Create());
        runtimes.Subcommands.Add(List());
        runtimes.Subcommands.Add(Show());
        runtimes.Subcommands.Add(Attach());
        runtimes.Subcommands.Add(Detach());
        runtimes.Subcommands.Add(RotateToken());
        runtimes.Subcommands.Add(Delete());
        runtimes.Subcommands.Add(Environment());
        return runtimes;
    }

    private static string Describe(JsonNode runtime) => Printer.Fields(
        ("id", Printer.Text(runtime["id"])),
        ("name", Printer.Text(runtime["name"])),
        ("vaults", Printer.Text(runtime["vault_ids"])),
        ("created", Printer.Text(runtime["created_at"])),
        ("updated", Printer.Text(runtime["updated_at"])));

    private static Argument<string> RuntimeArgument() => new("RUNTIME") { Description = "The runtime's id (rtm_…) or name" };

    private static Option<string?> TokenFileOption() => new("--token-file")
    {
        Description = "Write the token to this file (mode 0600) instead of printing it; 'vaultgrains run --token-file' reads it",
        HelpName = "FILE",
    };

    /// <summary>The token goes to the file (and out of the JSON) when one is given; otherwise it is printed once, with a warning.</summary>
    private static void PrintWithToken(Printer printer, JsonObject answer, string? tokenFile, Func<string> forPeople)
    {
        var token = (string)answer["token"]!;
        if (tokenFile is not null)
        {
            PrivateFile.Write(tokenFile, token + "\n");
            answer.Remove("token");
            printer.Print(answer, () => forPeople() + $"The token is in {tokenFile} (0600).\n");
            return;
        }

        printer.Print(answer, () => forPeople() + Printer.Fields(("token", token)) + "The token is shown only now: keep it (VAULTGRAINS_RUNTIME_TOKEN or a 0600 file for 'vaultgrains run').\n");
    }

    private static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The runtime's name (1–200 characters)" };
        var vaults = new Option<string[]>("--vault")
        {
            Description = "A vault it may use (id or name); repeat for more, first listed wins a shared env_key",
            HelpName = "VAULT",
            AllowMultipleArgumentsPerToken = false,
        };
        var tokenFile = TokenFileOption();
        var command = new Command("create", "Create a runtime with the vaults it may use") { name, vaults, tokenFile };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var vaultIds = new JsonArray();
            foreach (var vault in parse.GetValue(vaults) ?? [])
            {
                vaultIds.Add(await Resolve.VaultAsync(api, vault, cancellationToken));
            }

            var answer = (JsonObject)(await api.PostAsync("runtimes", new JsonObject { ["name"] = parse.GetValue(name), ["vault_ids"] = vaultIds }, cancellationToken)).Body;
            PrintWithToken(printer, answer, parse.GetValue(tokenFile), () => Describe(answer));
        });
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "The organization's runtimes, oldest first");
        command.SetApiAction(async (_, printer, api, cancellationToken) =>
        {
            var answer = await api.GetAsync("runtimes", cancellationToken);
            printer.Print(answer.Text, () =>
            {
                var table = new Table("ID", "NAME", "VAULTS", "CREATED");
                foreach (var runtime in answer.Array.OfType<JsonObject>())
                {
                    table.Add(Printer.Text(runtime["id"]), Printer.Text(runtime["name"]), Printer.Text(runtime["vault_ids"]), Printer.Text(runtime["created_at"]));
                }

                return table.ToString();
            });
        });
        return command;
    }

    private static Command Show()
    {
        var runtime = RuntimeArgument();
        var command = new Command("show", "Show one runtime") { runtime };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.RuntimeAsync(api, parse.GetValue(runtime)!, cancellationToken);
            var answer = await api.GetAsync($"runtimes/{id}", cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command Attach() => ChangeVaults("attach", "Let the runtime use one more vault (listed last: earlier vaults win a shared env_key)", (ids, vaultId) =>
    {
        if (!ids.Contains(vaultId))
        {
            ids.Add(vaultId);
        }
    });

    private static Command Detach() => ChangeVaults("detach", "Take a vault from the runtime (within a second for the proxy)", (ids, vaultId) =>
    {
        if (!ids.Remove(vaultId))
        {
            throw new CliException($"{vaultId} is not attached to this runtime");
        }
    });

    private static Command ChangeVaults(string name, string description, Action<List<string>, string> change)
    {
        var runtime = RuntimeArgument();
        var vault = CommandActions.VaultOption();
        var command = new Command(name, description) { runtime, vault };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.RuntimeAsync(api, parse.GetValue(runtime)!, cancellationToken);
            var vaultId = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var current = (await api.GetAsync($"runtimes/{id}", cancellationToken)).Body;
            var ids = ((JsonArray)current["vault_ids"]!).Select(v => (string)v!).ToList();
            change(ids, vaultId);
            var body = new JsonObject { ["vault_ids"] = new JsonArray(ids.Select(v => (JsonNode?)v).ToArray()) };
            var answer = await api.PatchAsync($"runtimes/{id}", body, cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command RotateToken()
    {
        var runtime = RuntimeArgument();
        var tokenFile = TokenFileOption();
        var command = new Command("rotate-token", "Issue a new proxy token; the old one stops working within a second") { runtime, tokenFile };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.RuntimeAsync(api, parse.GetValue(runtime)!, cancellationToken);
            var answer = (JsonObject)(await api.PostAsync($"runtimes/{id}/token", null, cancellationToken)).Body;
            PrintWithToken(printer, answer, parse.GetValue(tokenFile), () => $"New token for {id}; the old one no longer works.\n");
        });
        return command;
    }

    private static Command Delete()
    {
        var runtime = RuntimeArgument();
        var command = new Command("delete", "Delete a runtime; its token stops working within a second") { runtime };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.RuntimeAsync(api, parse.GetValue(runtime)!, cancellationToken);
            await api.DeleteAsync($"runtimes/{id}", cancellationToken);
            printer.Print(new JsonObject { ["deleted"] = id }, () => $"Deleted runtime {id}.\n");
        });
        return command;
    }

    private static Command Environment()
    {
        var runtime = RuntimeArgument();
        var format = new Option<string?>("--format") { Description = "dotenv: the API's KEY=value file", HelpName = "dotenv" };
        format.AcceptOnlyFromAmong("json", "dotenv");
        var command = new Command("env", "What an agent of this runtime starts with: placeholders, the proxy URL and the CA to trust") { runtime, format };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.RuntimeAsync(api, parse.GetValue(runtime)!, cancellationToken);
            if (parse.GetValue(format) == "dotenv")
            {
                // The file itself, on standard output, also with --json: it is what the flag asked for.
                Console.Out.Write((await api.GetAsync($"runtimes/{id}/environment?format=dotenv", cancellationToken)).Text);
                return;
            }

            var answer = await api.GetAsync($"runtimes/{id}/environment", cancellationToken);
            printer.Print(answer.Text, () =>
            {
                var table = new Table("VARIABLE", "VALUE");
                foreach (var (key, value) in (JsonObject)answer.Body["variables"]!)
                {
                    table.Add(key, Printer.Text(value));
                }

                var certificate = Printer.Text(answer.Body["ca_certificate"]);
                return Printer.Fields(
                        ("proxy_url", Printer.Text(answer.Body["proxy_url"])),
                        ("ca_certificate", $"PEM, {certificate.Length} characters (--json shows it)"))
                    + "\n" + table;
            });
        });
        return command;
    }
}
