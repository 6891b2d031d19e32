using VaultGrains.Api;

var builder = WebApplication.CreateBuilder(args);
builder.AddVaultClusterClient();
builder.AddVaultApi();

var app = builder.Build();
app.MapVaultApi();
app.Run();

/// <summary>The API's entry point; public for WebApplicationFactory.</summary>
public partial class Program;
