using Microsoft.Extensions.Hosting;

namespace VaultGrains.Silo;

internal static class Program
{
    public static async Task Main(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddVaultSilo();
        await builder.Build().RunAsync();
    }
}
