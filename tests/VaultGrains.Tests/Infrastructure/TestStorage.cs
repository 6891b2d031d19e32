using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using VaultGrains.Hosting;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// The Azurite the tests run against: the one ./test.sh started (VAULTGRAINS_TEST_STORAGE), or,
/// when a test is run on its own, one started here from deploy/node_modules on free ports.
/// Each user of it takes its own storage prefix, so tests never see each other's data.
/// </summary>
public static class TestStorage
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly Lazy<AzuriteInstance> Started = new(AzuriteInstance.Start);

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable("VAULTGRAINS_TEST_STORAGE") is { Length: > 0 } fromScript
            ? fromScript
            : Started.Value.ConnectionString;

    /// <summary>A fresh storage prefix: its own containers and tables in the shared account.</summary>
    public static StorageOptions NewStorage() => new()
    {
        ConnectionString = ConnectionString,
        Prefix = "t" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)),
    };

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string BuildConnectionString(int blob, int queue, int table) =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;";

    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "VaultGrains.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("VaultGrains.sln not found above the test binaries.");
    }

    public static void WaitForPort(int port, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(200);
            }
        }

        throw new TimeoutException($"Nothing listens on port {port}.");
    }
}
