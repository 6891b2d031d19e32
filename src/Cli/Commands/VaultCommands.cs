using System.CommandLine;
using System.Text.Json.Nodes;
using VaultGrains.Cli.Output;

namespace VaultGrains.Cli.Commands;

/// <summary><c>vaults list|create|show|rename|delete</c>.</summary>
public static class VaultCommands
{
    public static Command Build()
    {
        var vaults = new Command("vaults", "Create, list, show, rename and delete vaults");
        vaults.Subcommands.Add(List());
        vaults.Subcommands.Add(Create());
        vaults.Subcommands.Add(Show());
        vaults.Subcommands.Add(Rename());
        vaults.Subcommands.Add(Delete());
        return vaults;
    }

    public static string Describe(JsonNode vault) => Printer.Fields(
        ("id", Printer.Text(vault["id"])),
        ("name", Printer.Text(vault["name"])),
        ("description", Printer.Text(vault["description"])),
        ("secrets", Printer.Text(vault["secret_count"])),
        ("created", Printer.Text(vault["created_at"])),
        ("updated", Printer.Text(vault["updated_at"])));

    private static Command List()
    {
        var command = new Command("list", "The organization's vaults, oldest first");
        command.SetApiAction(async (_, printer, api, cancellationToken) =>
        {
            var answer = await api.GetAsync("vaults", cancellationToken);
            printer.Print(answer.Text, () =>
            {
                var table = new Table("ID", "NAME", "SECRETS", "CREATED");
                foreach (var vault in answer.Array.OfType<JsonObject>())
                {
                    table.Add(Printer.Text(vault["id"]), Printer.Text(vault["name"]), Printer.Text(vault["secret_count"]), Printer.Text(vault["created_at"]));
                }

                return table.ToString();
            });
        });
        return command;
    }

    private static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The vault's name (1–200 characters)" };
        var description = new Option<string?>("--description") { Description = "What the vault holds", HelpName = "D" };
        var command = new Command("create", "Create a vault") { name, description };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var body = new JsonObject { ["name"] = parse.GetValue(name) };
            if (parse.GetValue(description) is { } text)
            {
                body["description"] = text;
            }

            var answer = await api.PostAsync("vaults", body, cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command Show()
    {
        var vault = new Argument<string>("VAULT") { Description = "The vault's id (vlt_…) or name" };
        var command = new Command("show", "Show one vault") { vault };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var answer = await api.GetAsync($"vaults/{id}", cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command Rename()
    {
        var vault = new Argument<string>("VAULT") { Description = "The vault's id (vlt_…) or name" };
        var name = new Argument<string>("NAME") { Description = "The new name" };
        var description = new Option<string?>("--description") { Description = "A new description too", HelpName = "D" };
        var command = new Command("rename", "Rename a vault (and change its description)") { vault, name, description };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var body = new JsonObject { ["name"] = parse.GetValue(name) };
            if (parse.GetValue(description) is { } text)
            {
                body["description"] = text;
            }

            var answer = await api.PatchAsync($"vaults/{id}", body, cancellationToken);
            printer.Print(answer.Text, () => Describe(answer.Body));
        });
        return command;
    }

    private static Command Delete()
    {
        var vault = new Argument<string>("VAULT") { Description = "The vault's id (vlt_…) or name; it must hold no secrets and be attached to no runtime" };
        var command = new Command("delete", "Delete an empty vault") { vault };
        command.SetApiAction(async (parse, printer, api, cancellationToken) =>
        {
            var id = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            await api.DeleteAsync($"vaults/{id}", cancellationToken);
            printer.Print(new JsonObject { ["deleted"] = id }, () => $"Deleted vault {id}.\n");
        });
        return command;
    }
}
