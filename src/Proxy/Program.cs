using VaultGrains.Hosting.Telemetry;
using VaultGrains.Proxy.Cluster;

namespace VaultGrains.Proxy;

internal static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddVaultTelemetry("vaultgrains-proxy", traceRequests: false);
        builder.AddVaultProxyCluster();
        builder.AddVaultProxy();
        var app = builder.Build();
        app.UseVaultManagementBranch();
        app.MapVaultProxy();
        app.Run();
    }
}
