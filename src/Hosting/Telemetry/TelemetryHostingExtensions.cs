using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace VaultGrains.Hosting.Telemetry;

/// <summary>
/// OpenTelemetry, log format and the management listener, the same in the API, the silo and the
/// proxy: one place decides which meters and sources are collected and what leaves the process.
/// </summary>
public static class TelemetryHostingExtensions
{
    /// <summary>Every meter of this service (<c>VaultGrains.Api</c>, <c>.Silo</c>, <c>.KeyVault</c>, <c>.Proxy</c>).</summary>
    public const string ServiceMeters = "VaultGrains.*";

    /// <summary>The service's own activity sources (Key Vault calls).</summary>
    public const string ServiceSources = "VaultGrains.*";

    /// <summary>Orleans' meter and its activity sources (grain calls, storage, lifecycle).</summary>
    public static readonly string[] OrleansMeters = ["Microsoft.Orleans"];

    public static readonly string[] OrleansSources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "Microsoft.Orleans.Storage"];

    /// <summary>The Azure SDK's activity sources (one span per storage operation), on when tracing is.</summary>
    public const string AzureSources = "Azure.*";

    public const string MetricsPath = "/metrics";

    /// <summary>
    /// Adds OpenTelemetry (section <c>Telemetry</c>), the log format (<c>Logging:Format</c>) and the
    /// management options (section <c>Management</c>). Call it first, before anything creates an
    /// Azure SDK client: the SDK decides once per process whether it emits activities.
    /// </summary>
    /// <param name="serviceName">The <c>service.name</c> resource attribute.</param>
    /// <param name="traceRequests">Trace incoming HTTP requests (the API). The proxy passes false:
    /// what it forwards belongs to agents, and the path inside a tunnel is theirs.</param>
    public static TelemetryOptions AddVaultTelemetry(this IHostApplicationBuilder builder, string serviceName, bool traceRequests)
    {
        var configuration = builder.Configuration;
        builder.AddVaultLogFormat();
        builder.Services.AddSingleton<IValidateOptions<ManagementOptions>, ManagementOptionsValidator>();
        builder.Services.AddOptions<ManagementOptions>().Bind(configuration.GetSection(ManagementOptions.Section)).ValidateOnStart();
        var telemetry = configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new();
        builder.Services.AddSingleton(Options.Create(telemetry));
        if (!telemetry.Enabled)
        {
            return telemetry;
        }

        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var otel = builder.Services.AddOpenTelemetry().ConfigureResource(resource => resource.AddService(serviceName));
        otel.WithMetrics(metrics =>
        {
            metrics.AddMeter(ServiceMeters).AddMeter(OrleansMeters).AddMeter("System.Runtime")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                // A scrape shows the state of that moment (the default caches it for 300 ms).
                .AddPrometheusExporter(options => options.ScrapeResponseCacheDurationMilliseconds = 0);
            if (otlp)
            {
                metrics.AddOtlpExporter();
            }
        });

        if (telemetry.Tracing ?? otlp)
        {
            AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);
            otel.WithTracing(tracing =>
            {
                tracing.AddSource(ServiceSources).AddSource(OrleansSources).AddSource(AzureSources);
                if (traceRequests)
                {
                    tracing.AddAspNetCoreInstrumentation(options => options.Filter = context => !IsManagementPath(context.Request.Path));
                }

                // Before any exporter: what leaves the process is already scrubbed.
                tracing.AddProcessor(new RedactingActivityProcessor());
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }
            });
        }

        return telemetry;
    }

    /// <summary>
    /// <c>Logging:Format</c>: <c>json</c> writes one JSON object per line with UTC timestamps and the
    /// scopes, which carry the trace and span ids; <c>simple</c> (default) is the usual console text.
    /// </summary>
    public static IHostApplicationBuilder AddVaultLogFormat(this IHostApplicationBuilder builder)
    {
        var format = builder.Configuration["Logging:Format"];
        if (string.Equals(format, "json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.AddJsonConsole(options =>
            {
                options.IncludeScopes = true;
                options.UseUtcTimestamp = true;
                options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
            builder.Services.Configure<LoggerFactoryOptions>(options =>
                options.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);
        }
        else if (format is { Length: > 0 } && !string.Equals(format, "simple", StringComparison.OrdinalIgnoreCase))
        {
            throw new OptionsValidationException("Logging", typeof(string), [$"Logging:Format must be \"json\" or \"simple\", not \"{format}\"."]);
        }

        return builder;
    }

    public static bool IsManagementPath(PathString path) =>
        path.StartsWithSegments(MetricsPath) || path.StartsWithSegments("/dashboard");

    /// <summary>
    /// For a web process whose public listener comes from <c>urls</c> (<c>ASPNETCORE_URLS</c>): adds the
    /// management listener to those addresses. (Binding it in code would make Kestrel drop the URLs.)
    /// </summary>
    public static WebApplicationBuilder AddVaultManagementUrl(this WebApplicationBuilder builder)
    {
        var management = ReadManagement(builder.Configuration);
        if (management.Port != 0)
        {
            var urls = builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey) is { Length: > 0 } configured ? configured : "http://localhost:5000";
            builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, $"{urls};{management.Url}");
        }

        return builder;
    }

    /// <summary>The management options as configured, validated (for code that runs before the host is built).</summary>
    public static ManagementOptions ReadManagement(IConfiguration configuration) =>
        SettingsExtensions.Validated(configuration.GetSection(ManagementOptions.Section).Get<ManagementOptions>() ?? new(), new ManagementOptionsValidator());

    /// <summary>
    /// For a web process whose every path belongs to someone else (the proxy forwards
    /// <c>http://host/metrics</c> for agents): requests to the management port get <c>/metrics</c>
    /// and 404 for anything else; requests to the other listeners are left alone.
    /// </summary>
    public static WebApplication UseVaultManagementBranch(this WebApplication app)
    {
        var port = app.Services.GetRequiredService<IOptions<ManagementOptions>>().Value.Port;
        if (port == 0)
        {
            return app;
        }

        app.MapWhen(context => context.Connection.LocalPort == port, management =>
        {
            if (app.Services.GetService<MeterProvider>() is { } meters)
            {
                management.UseOpenTelemetryPrometheusScrapingEndpoint(meters, context => context.Request.Path == MetricsPath, null, null, null);
            }

            management.Run(context =>
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            });
        });
        return app;
    }

    /// <summary>
    /// Keeps the management paths and the public API apart: on the management port only
    /// <c>/metrics</c> and <c>/dashboard</c> answer, on every other listener those paths are 404.
    /// Then maps <c>/metrics</c> (Prometheus text) when telemetry is on. Call before mapping anything else.
    /// </summary>
    public static WebApplication UseVaultManagement(this WebApplication app)
    {
        var port = app.Services.GetRequiredService<IOptions<ManagementOptions>>().Value.Port;
        app.Use((context, next) =>
        {
            var onManagement = port != 0 && context.Connection.LocalPort == port;
            if (onManagement != IsManagementPath(context.Request.Path))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        if (port != 0 && app.Services.GetService<MeterProvider>() is not null)
        {
            app.MapPrometheusScrapingEndpoint(MetricsPath);
        }

        return app;
    }
}
