using System.CommandLine;
using System.Text.Json.Nodes;
using VaultGrains.Cli.Configuration;
using VaultGrains.Cli.Http;
using VaultGrains.Cli.Input;

namespace VaultGrains.Cli.Commands;

/// <summary><c>login</c> and <c>logout</c>: the profile file with the API's URL and key (mode 0600).</summary>
public static class LoginCommands
{
    public static Command Login()
    {
        var url = new Option<string?>("--url")
        {
            Description = $"The API's address (default: {ClientProfile.UrlVariable}, else {ClientProfile.DefaultUrl})",
            HelpName = "URL",
        };
        var command = new Command("login", "Check an API key and keep it in the profile (0600); the key is read from standard input or a prompt that does not echo, never an argument") { url };
        command.SetAction(async (parse, printer, cancellationToken) =>
        {
            var address = parse.GetValue(url) is { } given ? ClientProfile.ParseUrl(given) : ClientProfile.Load().Url;
            var key = SecretInput.Read("API key", null).Trim();
            using (var api = new VaultApi(address, key))
            {
                // Any authenticated read proves the key; 401 carries the API's message.
                await api.GetAsync("vaults", cancellationToken);
            }

            var profile = new ClientProfile(address, key);
            profile.Save();
            var path = ClientProfile.ProfilePath();
            printer.Print(new JsonObject { ["url"] = address.ToString().TrimEnd('/'), ["profile"] = path }, () => $"Logged in to {address.ToString().TrimEnd('/')}. Profile: {path} (0600).\n");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Logout()
    {
        var command = new Command("logout", "Remove the profile (the key stays valid: revoke it with the admin API)");
        command.SetAction((_, printer, _) =>
        {
            var path = ClientProfile.ProfilePath();
            var removed = ClientProfile.Delete();
            printer.Print(new JsonObject { ["removed"] = removed, ["profile"] = path }, () => removed ? $"Removed {path}.\n" : $"No profile at {path}.\n");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}
