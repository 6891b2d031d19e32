using System.CommandLine;
using VaultGrains.Cli.Commands;

var root = new RootCommand("vaultgrains: manage VaultGrains vaults, secrets and runtimes, and run agents through the secret proxy.\n" +
    "Settings: VAULTGRAINS_URL and VAULTGRAINS_API_KEY, else the profile 'vaultgrains login' writes.")
{
    CommandActions.Json,
    LoginCommands.Login(),
    LoginCommands.Logout(),
    VaultCommands.Build(),
    SecretCommands.Build(),
    RuntimeCommands.Build(),
    RunCommand.Build(),
};

// No @file expansion: an argument of 'run' after -- must reach the command as typed (curl -d @body.json).
// No built-in Ctrl-C handling: 'run' forwards signals itself; the other commands just stop.
var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
