using VaultGrains.Api;

var builder = WebApplication.CreateBuilder(args);
builder.AddVaultClusterClient();
builder.AddVaultApi();
builder.AddVaultOpenApi();

var app = builder.Build();
app.MapVaultApi();
app.MapVaultOpenApi();
app.Run();

/// <summary>The API's entry point; public for WebApplicationFactory.</summary>
public partial class Program;
