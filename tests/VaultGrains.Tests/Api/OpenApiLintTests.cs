using System.Diagnostics;
using System.Text.Json;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Api;

/// <summary>
/// The served <c>/openapi/v1.json</c> passes a linter this project did not write: Redocly CLI's
/// <c>recommended</c> ruleset (pinned in deploy/package.json, installed by <c>npm ci</c> in deploy/),
/// with no error. Client generators and API portals reject or mangle documents that fail it.
/// </summary>
[Collection(nameof(ApiCollection))]
public sealed class OpenApiLintTests(ApiFixture fixture)
{
    [Fact]
    public async Task The_document_passes_redocly_recommended_with_no_error()
    {
        var redocly = Path.Combine(TestStorage.RepositoryRoot(), "deploy", "node_modules", ".bin", "redocly");
        Assert.True(File.Exists(redocly), $"{redocly} is missing: run `npm ci` in deploy/ (./test.sh does)");

        // In a directory of its own, so no redocly.yaml of the repository or the user changes the rules.
        var directory = Directory.CreateTempSubdirectory("vaultgrains-lint");
        try
        {
            var document = Path.Combine(directory.FullName, "openapi.json");
            await File.WriteAllTextAsync(document, await fixture.Client.GetStringAsync("/openapi/v1.json"));

            var start = new ProcessStartInfo(redocly, ["lint", document, "--extends=recommended", "--format=json"])
            {
                WorkingDirectory = directory.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            // Nothing leaves the machine: no usage reports, no update check.
            start.Environment["REDOCLY_TELEMETRY"] = "off";
            start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
            start.Environment["CI"] = "true";
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = await process.StandardOutput.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);

            var report = JsonDocument.Parse(stdout[stdout.IndexOf('{', StringComparison.Ordinal)..]).RootElement;
            var problems = report.GetProperty("problems").EnumerateArray()
                .Select(p => $"{p.GetProperty("severity").GetString()} {p.GetProperty("ruleId").GetString()}: {p.GetProperty("message").GetString()}")
                .ToArray();
            var errors = report.GetProperty("totals").GetProperty("errors").GetInt32();
            Assert.True(errors == 0 && process.ExitCode == 0, $"redocly lint: {errors} error(s), exit {process.ExitCode}\n{string.Join('\n', problems)}\n{await stderr}");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
