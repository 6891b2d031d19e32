using System.Collections.Concurrent;
using System.Diagnostics;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// A silo or API started from its build output with <c>dotnet</c>, as ./run.sh starts it, with its
/// settings in environment variables. Its output is kept for the failure message of a test.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private const int KeptLines = 400;
    private readonly ConcurrentQueue<string> output = new();
    private readonly Process process;

    private ServiceProcess(string name, Process process)
    {
        Name = name;
        this.process = process;
    }

    public string Name { get; }

    public bool HasExited => Disposed || process.HasExited;

    public bool Disposed { get; private set; }

    public int ExitCode => process.ExitCode;

    public string RecentOutput => $"--- {Name} ---\n" + string.Join('\n', output);

    /// <summary>The build output of a service project, in the configuration these tests were built in (./test.sh builds Release).</summary>
    public static string BuildOutput(string project, string assembly)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
        var path = Path.Combine(TestStorage.RepositoryRoot(), "src", project, "bin", configuration, "net10.0", assembly + ".dll");
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: build the solution ({configuration}) first.");
    }

    public static ServiceProcess Start(string name, string dll, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", [dll, .. arguments])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment.Remove("VAULTGRAINS_TEST_STORAGE");
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        ChildProcess.KillOnExit(process);
        var service = new ServiceProcess(name, process);
        process.OutputDataReceived += (_, e) => service.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => service.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>kill -9: no goodbye to the cluster, no flushed writes, sockets reset by the kernel.</summary>
    public void Kill() => ChildProcess.KillQuietly(process);

    public void Freeze() => ChildProcess.Freeze(process);

    public void Resume() => ChildProcess.Resume(process);

    /// <summary>SIGTERM, then waits for the process to exit by itself (SIGKILL after the grace period).</summary>
    public Task StopAsync(TimeSpan grace) => ChildProcess.StopAsync(process, grace);

    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => process.WaitForExitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Disposed)
        {
            return;
        }

        Disposed = true;
        ChildProcess.KillQuietly(process);
        await process.WaitForExitAsync();
        process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        output.Enqueue(line);
        while (output.Count > KeptLines && output.TryDequeue(out _))
        {
        }
    }
}
