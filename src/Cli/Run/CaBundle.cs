namespace VaultGrains.Cli.Run;

/// <summary>
/// One PEM file an agent's TLS libraries trust: the system's roots (or the <c>SSL_CERT_FILE</c> in
/// force) plus the proxy's CA, so the agent trusts the proxy's per-host certificates and still
/// everything it trusted before. Written in a new private directory (0700) as a 0600 file, removed on dispose.
/// </summary>
public sealed class CaBundle : IDisposable
{
    // Debian/Ubuntu, RHEL/Fedora, Alpine/macOS: the first that exists is the system's bundle.
    private static readonly string[] SystemBundles = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];
    private readonly string directory;

    private CaBundle(string directory, string path)
    {
        this.directory = directory;
        Path = path;
    }

    public string Path { get; }

    public static CaBundle Write(string proxyCaPem)
    {
        var roots = SystemRoots();
        var directory = Directory.CreateTempSubdirectory("vaultgrains-run-").FullName;
        var path = System.IO.Path.Combine(directory, "ca-bundle.pem");
        using (var writer = new StreamWriter(Output.PrivateFile.Create(path)))
        {
            if (roots is not null)
            {
                var text = File.ReadAllText(roots);
                writer.Write(text);
                if (!text.EndsWith('\n'))
                {
                    writer.Write('\n');
                }
            }

            writer.Write("# VaultGrains secret proxy CA\n");
            writer.Write(proxyCaPem.TrimEnd('\n') + "\n");
        }

        return new CaBundle(directory, path);
    }

    /// <summary>The <c>SSL_CERT_FILE</c> in force when it names a file, else the system's bundle; null when there is none.</summary>
    public static string? SystemRoots()
    {
        if (Environment.GetEnvironmentVariable("SSL_CERT_FILE") is { Length: > 0 } inForce && File.Exists(inForce))
        {
            return inForce;
        }

        return Array.Find(SystemBundles, File.Exists);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
