using Microsoft.Extensions.Hosting;
using VaultGrains.Hosting.ClusterTls;

namespace VaultGrains.Silo;

internal static class Program
{
    public static async Task Main(string[] args)
    {
        // ./run.sh: a local cluster CA and certificates, made with .NET so nothing else is needed.
        if (args is ["cluster-certificates", var directory])
        {
            var written = ClusterCertificates.Ensure(directory);
            Console.Error.WriteLine(written.Count == 0 ? $"cluster certificates in {directory} are current" : $"cluster certificates written to {directory}: {string.Join(", ", written)}");
            return;
        }

        var builder = Host.CreateApplicationBuilder(args);
        builder.AddVaultSilo();
        await builder.Build().RunAsync();
    }
}
