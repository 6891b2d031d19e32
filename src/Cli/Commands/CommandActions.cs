using System.CommandLine;
using VaultGrains.Cli.Http;
using VaultGrains.Cli.Output;

namespace VaultGrains.Cli.Commands;

/// <summary>What every command shares: <c>--json</c>, and one way to turn a failure into a message and an exit code.</summary>
public static class CommandActions
{
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print JSON for scripts (the API's own JSON where there is one; errors as {\"error\":\"…\"} on standard error)",
        Recursive = true,
    };

    /// <summary>An action that may fail with <see cref="CliException"/>: the message goes to standard error, the exit code out.</summary>
    public static void SetAction(this Command command, Func<ParseResult, Printer, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var printer = new Printer(parseResult.GetValue(Json), Console.Out, Console.Error);
            try
            {
                return await action(parseResult, printer, cancellationToken);
            }
            catch (CliException e)
            {
                printer.Error(e.Message);
                return e.ExitCode;
            }
        });

    /// <summary>An action on the public API with the configured URL and key.</summary>
    public static void SetApiAction(this Command command, Func<ParseResult, Printer, VaultApi, CancellationToken, Task> action) =>
        command.SetAction(async (parseResult, printer, cancellationToken) =>
        {
            using var api = VaultApi.FromProfile();
            await action(parseResult, printer, api, cancellationToken);
            return ExitCodes.Success;
        });

    /// <summary><c>a.com, *.b.com</c> → the list; <c>""</c> → empty (any host); absent → null (not sent).</summary>
    public static List<string>? Domains(string? option) =>
        option?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    public static Option<string?> DomainsOption(string description) => new("--domains")
    {
        Description = description,
        HelpName = "a.com,*.b.com",
    };

    public static Option<string> VaultOption() => new("--vault")
    {
        Description = "The vault: its id (vlt_…) or its name",
        Required = true,
        HelpName = "VAULT",
    };
}
