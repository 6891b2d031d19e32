using System.Diagnostics;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// An Azurite of its own, on free ports with its own data directory, for tests that stop and
/// restart storage (the one ./test.sh shares must never be stopped). A restart keeps the ports
/// and the data, as a storage service coming back from an outage would.
/// </summary>
public sealed class AzuriteInstance : IAsyncDisposable
{
    private readonly string azurite;
    private Process? process;

    private AzuriteInstance(string azurite, string location, int blob, int queue, int table)
    {
        this.azurite = azurite;
        Location = location;
        BlobPort = blob;
        QueuePort = queue;
        TablePort = table;
    }

    public string Location { get; }

    public int BlobPort { get; }

    public int QueuePort { get; }

    public int TablePort { get; }

    public string ConnectionString => TestStorage.BuildConnectionString(BlobPort, QueuePort, TablePort);

    public bool IsRunning => process is { HasExited: false };

    /// <summary>Starts Azurite from deploy/node_modules on free ports and waits until it listens.</summary>
    public static AzuriteInstance Start()
    {
        var azurite = Path.Combine(TestStorage.RepositoryRoot(), "deploy", "node_modules", ".bin", "azurite");
        if (!File.Exists(azurite))
        {
            throw new InvalidOperationException("Azurite is not installed: run ./test.sh, or npm ci in deploy/.");
        }

        var location = Directory.CreateTempSubdirectory("vaultgrains-azurite").FullName;
        var instance = new AzuriteInstance(azurite, location, ReusablePorts.Free(), ReusablePorts.Free(), ReusablePorts.Free());
        instance.Run();
        return instance;
    }

    /// <summary>Starts it again on the same ports and data directory.</summary>
    public void Restart()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("Azurite is still running.");
        }

        Run();
    }

    /// <summary>Stops it the way an operator (or an orchestrator) would: SIGTERM, then SIGKILL after a grace period.</summary>
    public async Task StopAsync()
    {
        if (process is { } running)
        {
            await ChildProcess.StopAsync(running, TimeSpan.FromSeconds(5));
            running.Dispose();
            process = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (process is { } running)
        {
            ChildProcess.KillQuietly(running);
            await running.WaitForExitAsync();
            running.Dispose();
            process = null;
        }

        try
        {
            Directory.Delete(Location, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Run()
    {
        var started = Process.Start(new ProcessStartInfo(azurite,
            ["--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location", Location,
             "--blobHost", "127.0.0.1", "--blobPort", $"{BlobPort}", "--queueHost", "127.0.0.1", "--queuePort", $"{QueuePort}",
             "--tableHost", "127.0.0.1", "--tablePort", $"{TablePort}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        ChildProcess.KillOnExit(started);
        started.OutputDataReceived += (_, _) => { };
        started.ErrorDataReceived += (_, _) => { };
        started.BeginOutputReadLine();
        started.BeginErrorReadLine();
        process = started;
        TestStorage.WaitForPort(BlobPort);
        TestStorage.WaitForPort(TablePort);
    }
}
