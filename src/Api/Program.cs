using VaultGrains.Api;
using VaultGrains.Hosting.Telemetry;

var builder = WebApplication.CreateBuilder(args);
var telemetry = builder.AddVaultTelemetry("vaultgrains-api", traceRequests: true);
builder.AddVaultManagementUrl();
builder.AddVaultAdminListener();
builder.AddVaultCluster(telemetry);
builder.AddVaultApi();
builder.AddVaultOpenApi();

var app = builder.Build();
app.MapVaultManagement();
app.MapVaultApi();
app.MapVaultOpenApi();
app.Run();

/// <summary>The API's entry point; public for WebApplicationFactory.</summary>
public partial class Program;
