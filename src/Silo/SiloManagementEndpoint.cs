using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using VaultGrains.Hosting.Telemetry;

namespace VaultGrains.Silo;

/// <summary>
/// The silo's management listener (<c>Management:Port</c> on <c>Management:Address</c>, loopback by
/// default): Prometheus <c>/metrics</c> of this silo, nothing else. Like the health listener, a
/// small Kestrel app of its own, since the silo is not a web application; off unless a port is set.
/// </summary>
internal sealed class SiloManagementEndpoint(IOptions<ManagementOptions> options, IServiceProvider services, ILogger<SiloManagementEndpoint> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var management = options.Value;
        if (management.Port == 0)
        {
            return;
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(management.EndPoint));
        app = builder.Build();

        // The silo's own meter provider (its instruments and exporters), not one of this small app.
        if (services.GetService<MeterProvider>() is { } meters)
        {
            app.UseOpenTelemetryPrometheusScrapingEndpoint(meters, context => context.Request.Path == TelemetryHostingExtensions.MetricsPath, null, null, null);
        }

        app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        await app.StartAsync(cancellationToken);
        logger.LogInformation("Silo management endpoint (metrics) on {Url}", management.Url);
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
