using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace VaultGrains.Silo;

/// <summary>Where the silo answers health probes (section <c>Health</c>); off unless a port is set.</summary>
public sealed class SiloHealthOptions
{
    public const string Section = "Health";

    /// <summary>TCP port of the plain-HTTP probe endpoint; 0 turns it off.</summary>
    public int Port { get; set; }
}

internal sealed class SiloHealthOptionsValidator : IValidateOptions<SiloHealthOptions>
{
    public ValidateOptionsResult Validate(string? name, SiloHealthOptions options) =>
        options.Port is < 0 or > 65535
            ? ValidateOptionsResult.Fail("Health:Port must be a TCP port (1-65535), or 0 for no health endpoint.")
            : ValidateOptionsResult.Success;
}

/// <summary>
/// A minimal HTTP listener for orchestrator probes. A TCP probe of the silo port would only say
/// that a socket is open; this says what the cluster thinks of the silo:
/// <c>/healthz</c> is 200 only while the silo is an Active member (not joining, not shutting
/// down, not declared dead), so it serves as the readiness probe; <c>/livez</c> is 200 while the
/// process can answer at all, so a storage outage never makes the orchestrator restart silos.
/// </summary>
internal sealed class SiloHealthEndpoint(IOptions<SiloHealthOptions> options, ISiloStatusOracle oracle, ILogger<SiloHealthEndpoint> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Port == 0)
        {
            return;
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(options.Value.Port));
        app = builder.Build();
        app.MapGet("/healthz", () =>
        {
            var status = oracle.CurrentStatus;
            return Results.Text($"{{\"status\":\"{status.ToString().ToLowerInvariant()}\"}}", "application/json", statusCode: status == SiloStatus.Active ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/livez", () => Results.Text("{\"status\":\"alive\"}", "application/json"));
        await app.StartAsync(cancellationToken);
        logger.LogInformation("Silo health endpoint on port {Port}", options.Value.Port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (app is not null)
        {
            await app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.DisposeAsync();
        }
    }
}
