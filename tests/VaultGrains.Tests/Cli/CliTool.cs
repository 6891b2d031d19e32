using System.Diagnostics;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Cli;

/// <summary>What one run of the tool printed and how it ended.</summary>
public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
}

/// <summary>
/// The built tool (<c>dotnet vaultgrains.dll …</c>, from the solution's build output) as a user runs
/// it: its own profile file, the API's URL in <c>VAULTGRAINS_URL</c>, nothing of the test host's
/// VaultGrains variables, and standard input given or empty.
/// </summary>
public sealed class CliTool(Uri apiAddress)
{
    public string ProfilePath { get; } = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-cli").FullName, "config", "profile.json");

    /// <summary>Every argument list the tool was started with, to check no value or key was ever one.</summary>
    public List<string> Arguments { get; } = [];

    /// <summary>Everything the tool printed, to check no value or key was ever in it.</summary>
    public List<string> Printed { get; } = [];

    public static string Dll => ServiceProcess.BuildOutput("Cli", "vaultgrains");

    public async Task<CliResult> RunAsync(string[] arguments, string? input = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        using var process = Start(arguments, environment);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var result = new CliResult(process.ExitCode, await output, await error);
        Printed.Add(result.Output);
        Printed.Add(result.Error);
        return result;
    }

    public Task<CliResult> RunAsync(params string[] arguments) => RunAsync(arguments, null, null);

    /// <summary>Runs the tool and asserts it succeeded; its standard output.</summary>
    public async Task<string> OkAsync(params string[] arguments)
    {
        var result = await RunAsync(arguments);
        Assert.True(result.ExitCode == 0, $"vaultgrains {string.Join(' ', arguments)}: {result}");
        return result.Output;
    }

    /// <summary>No value and no key was ever an argument of the tool or in anything it printed.</summary>
    public void AssertNothingSecretIn(string apiKey, IEnumerable<string> values)
    {
        foreach (var secret in values.Append(apiKey))
        {
            Assert.DoesNotContain(Arguments, a => a.Contains(secret, StringComparison.Ordinal));
            Assert.DoesNotContain(Printed, p => p.Contains(secret, StringComparison.Ordinal));
        }
    }

    public static UnixFileMode ModeOf(string path) => OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(path);

    /// <summary>Starts the tool with redirected streams; the caller reads them and waits.</summary>
    public Process Start(string[] arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        Arguments.Add(string.Join(' ', arguments));
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("VAULTGRAINS_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["VAULTGRAINS_URL"] = apiAddress.ToString();
        start.Environment["VAULTGRAINS_PROFILE"] = ProfilePath;
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        ChildProcess.KillOnExit(process);
        return process;
    }
}
