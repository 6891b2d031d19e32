using System.CommandLine;
using VaultGrains.Cli.Http;
using VaultGrains.Cli.Run;

namespace VaultGrains.Cli.Commands;

/// <summary>
/// <c>run --runtime R -- COMMAND [ARGS…]</c>: starts a command the way an agent should run, with
/// placeholders instead of values, the secret proxy with the runtime's credentials, and a CA bundle
/// that trusts the proxy. The token comes from <c>VAULTGRAINS_RUNTIME_TOKEN</c> or <c>--token-file</c>,
/// never from an argument, and is passed to the command only inside the proxy variables.
/// </summary>
public static class RunCommand
{
    public const string TokenVariable = "VAULTGRAINS_RUNTIME_TOKEN";

    public static Command Build()
    {
        var runtime = new Option<string>("--runtime") { Description = "The runtime's id (rtm_…) or name", Required = true, HelpName = "RUNTIME" };
        var tokenFile = new Option<string?>("--token-file")
        {
            Description = $"Read the runtime's token from this file (default: {TokenVariable})",
            HelpName = "FILE",
        };
        var command = new Argument<string[]>("COMMAND") { Description = "The command and its arguments, after --", Arity = ArgumentArity.OneOrMore };
        var run = new Command("run", "Run a command with the runtime's placeholders, the secret proxy and its CA (exit code: the command's)") { runtime, tokenFile, command };
        run.SetAction(async (parse, _, cancellationToken) =>
        {
            var token = ReadToken(parse.GetValue(tokenFile));
            var commandLine = parse.GetValue(command)!;
            string runtimeId;
            System.Text.Json.Nodes.JsonNode environment;
            using (var api = VaultApi.FromProfile())
            {
                runtimeId = await Resolve.RuntimeAsync(api, parse.GetValue(runtime)!, cancellationToken);
                environment = (await api.GetAsync($"runtimes/{runtimeId}/environment", cancellationToken)).Body;
            }

            using var bundle = CaBundle.Write((string)environment["ca_certificate"]!);
            return await ChildCommand.RunAsync(commandLine[0], commandLine[1..], variables =>
                AgentEnvironment.Apply(variables, environment, runtimeId, token, bundle.Path));
        });
        return run;
    }

    private static string ReadToken(string? file)
    {
        string? token;
        if (file is not null)
        {
            try
            {
                token = File.ReadLines(file).FirstOrDefault()?.Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read {file}: {e.Message}", ExitCodes.RunFailed);
            }
        }
        else
        {
            token = Environment.GetEnvironmentVariable(TokenVariable)?.Trim();
        }

        return token is { Length: > 0 }
            ? token
            : throw new CliException($"no runtime token: set {TokenVariable} or pass --token-file (the token is shown by 'runtimes create' and 'runtimes rotate-token')", ExitCodes.RunFailed);
    }
}
