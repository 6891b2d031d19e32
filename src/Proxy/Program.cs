namespace VaultGrains.Proxy;

internal static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddVaultProxy();
        var app = builder.Build();
        app.MapVaultProxy();
        app.Run();
    }
}
