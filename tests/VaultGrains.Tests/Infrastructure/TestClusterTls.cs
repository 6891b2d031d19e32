using VaultGrains.Hosting.ClusterTls;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// Cluster certificates for the tests' silos and clients, made once per test run by the same code
/// ./run.sh uses (<see cref="ClusterCertificates"/>), in a directory of its own.
/// </summary>
public static class TestClusterTls
{
    private static readonly Lazy<string> Shared = new(() => NewDirectory());

    /// <summary>The directory of the run's cluster CA and the silo, api and proxy certificates.</summary>
    public static string Directory => Shared.Value;

    /// <summary>A directory with a CA (and certificates) of its own: what another cluster, or an attacker's, would have.</summary>
    public static string NewDirectory()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("vaultgrains-cluster-tls").FullName;
        ClusterCertificates.Ensure(directory);
        return directory;
    }

    /// <summary>Configuration entries (<c>Orleans:Tls:*</c>) for the certificate <paramref name="component"/> (silo, api, proxy).</summary>
    public static Dictionary<string, string?> Settings(string component, string? directory = null) => Entries(component, directory, ":");

    /// <summary>The same as environment variables of a process (<c>Orleans__Tls__*</c>).</summary>
    public static Dictionary<string, string> Environment(string component, string? directory = null) =>
        Entries(component, directory, "__").ToDictionary(e => e.Key, e => e.Value!);

    private static Dictionary<string, string?> Entries(string component, string? directory, string separator)
    {
        var options = ClusterCertificates.Options(directory ?? Directory, component);
        return new()
        {
            [$"Orleans{separator}Tls{separator}CertificateFile"] = options.CertificateFile,
            [$"Orleans{separator}Tls{separator}KeyFile"] = options.KeyFile,
            [$"Orleans{separator}Tls{separator}CaFile"] = options.CaFile,
        };
    }
}
