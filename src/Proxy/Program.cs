using VaultGrains.Proxy.Cluster;

namespace VaultGrains.Proxy;

internal static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddVaultProxyCluster();
        builder.AddVaultProxy();
        var app = builder.Build();
        app.MapVaultProxy();
        app.Run();
    }
}
