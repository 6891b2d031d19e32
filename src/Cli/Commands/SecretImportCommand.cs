using System.CommandLine;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using VaultGrains.Cli.Dotenv;
using VaultGrains.Cli.Http;
using VaultGrains.Cli.Output;

namespace VaultGrains.Cli.Commands;

/// <summary>
/// <c>secrets import FILE --vault V [--domains …] [--update]</c>: every <c>KEY=value</c> of a dotenv file
/// becomes a secret. The whole file is parsed first, and a file with any bad line sends nothing. Keys
/// already in the vault are skipped, or rotated with <c>--update</c>; what the API refuses is listed
/// with its reason, and makes the exit code 1.
/// </summary>
public static class SecretImportCommand
{
    public static Command Build()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A dotenv file ('-' for standard input)" };
        var vault = CommandActions.VaultOption();
        var domains = CommandActions.DomainsOption("allowed_domains for every imported secret (with --update, replaces those of rotated ones)");
        var update = new Option<bool>("--update") { Description = "Rotate keys that are already in the vault (default: skip them)" };
        var command = new Command("import", "Import a .env file: each KEY=value becomes a secret") { file, vault, domains, update };
        command.SetAction(async (parse, printer, cancellationToken) =>
        {
            var path = parse.GetValue(file)!;
            var entries = Read(path.ToString() == "-" ? null : path, printer);
            using var api = VaultApi.FromProfile();
            var vaultId = await Resolve.VaultAsync(api, parse.GetValue(vault)!, cancellationToken);
            var summary = await ImportAsync(api, vaultId, entries, CommandActions.Domains(parse.GetValue(domains)), parse.GetValue(update), cancellationToken);
            printer.Print(summary.ToJson(), summary.ToText);
            return summary.Refused.Count == 0 ? ExitCodes.Success : ExitCodes.Failure;
        });
        return command;
    }

    private static IReadOnlyList<DotenvEntry> Read(FileInfo? file, Printer printer)
    {
        string text;
        try
        {
            text = file is null ? Console.In.ReadToEnd() : File.ReadAllText(file.FullName, new UTF8Encoding(false, true));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            throw new CliException($"cannot read {file?.ToString() ?? "standard input"}: {e.Message}");
        }

        var name = file?.ToString() ?? "standard input";
        var parsed = DotenvParser.Parse(text);
        if (!parsed.IsValid)
        {
            throw new CliException($"{name} is not a valid dotenv file; nothing was imported:\n  " + string.Join("\n  ", parsed.Problems));
        }

        var effective = parsed.Effective();
        foreach (var repeated in parsed.Entries.GroupBy(e => e.Key).Where(g => g.Count() > 1))
        {
            printer.Warn($"warning: {repeated.Key} is set on lines {string.Join(", ", repeated.Select(e => e.Line))}; the last one is imported");
        }

        return effective.Count > 0 ? effective : throw new CliException($"{name} holds no KEY=value line; nothing was imported");
    }

    private static async Task<ImportSummary> ImportAsync(
        VaultApi api, string vaultId, IReadOnlyList<DotenvEntry> entries, List<string>? domains, bool update, CancellationToken cancellationToken)
    {
        var existing = (await api.GetAsync($"vaults/{vaultId}/secrets", cancellationToken)).Array
            .OfType<JsonObject>()
            .ToDictionary(s => (string)s["env_key"]!, s => (string)s["id"]!, StringComparer.Ordinal);
        var summary = new ImportSummary();
        foreach (var entry in entries)
        {
            try
            {
                if (existing.TryGetValue(entry.Key, out var secretId))
                {
                    if (!update)
                    {
                        summary.Skipped.Add(entry.Key);
                        continue;
                    }

                    var patch = new JsonObject { ["value"] = entry.Value };
                    AddDomains(patch, domains);
                    await api.PatchAsync($"vaults/{vaultId}/secrets/{secretId}", patch, cancellationToken);
                    summary.Rotated.Add(entry.Key);
                    continue;
                }

                var create = new JsonObject { ["env_key"] = entry.Key, ["value"] = entry.Value };
                AddDomains(create, domains);
                await api.PostAsync($"vaults/{vaultId}/secrets", create, cancellationToken);
                summary.Created.Add(entry.Key);
            }
            catch (ApiException e) when (e.Status == HttpStatusCode.BadRequest && e.Message == "env_key already exists in this vault" && !update)
            {
                // Created by someone else since the listing: the same as being there before.
                summary.Skipped.Add(entry.Key);
            }
            catch (ApiException e) when (e.Status is not (HttpStatusCode.Unauthorized or HttpStatusCode.NotFound or HttpStatusCode.TooManyRequests))
            {
                summary.Refused.Add((entry.Key, e.Message));
            }
        }

        return summary;
    }

    private static void AddDomains(JsonObject body, List<string>? domains)
    {
        if (domains is not null)
        {
            body["allowed_domains"] = new JsonArray(domains.Select(d => (JsonNode?)d).ToArray());
        }
    }

    /// <summary>What happened to each key, in file order.</summary>
    private sealed class ImportSummary
    {
        public List<string> Created { get; } = [];

        public List<string> Skipped { get; } = [];

        public List<string> Rotated { get; } = [];

        public List<(string Key, string Reason)> Refused { get; } = [];

        /// <summary><c>created</c>, <c>skipped</c>, <c>rotated</c>, <c>refused</c> (lists of env_keys) and the API's <c>reasons</c> for the refused ones.</summary>
        public JsonObject ToJson() => new()
        {
            ["created"] = Keys(Created),
            ["skipped"] = Keys(Skipped),
            ["rotated"] = Keys(Rotated),
            ["refused"] = Keys(Refused.Select(r => r.Key)),
            ["reasons"] = new JsonObject(Refused.Select(r => KeyValuePair.Create(r.Key, (JsonNode?)r.Reason))),
        };

        public string ToText() =>
            Line("created", Created) +
            Line("skipped", Skipped) +
            Line("rotated", Rotated) +
            Line("refused", Refused.Select(r => $"{r.Key} ({r.Reason})").ToList());

        private static string Line(string what, List<string> keys) =>
            keys.Count == 0 ? $"{what} 0\n" : $"{what} {keys.Count}: {string.Join(", ", keys)}\n";

        private static JsonArray Keys(IEnumerable<string> keys) => new(keys.Select(k => (JsonNode?)k).ToArray());
    }
}
