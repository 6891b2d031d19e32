using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using VaultGrains.Api.Audit;
using VaultGrains.Api.Endpoints;
using VaultGrains.Domain;
using VaultGrains.Hosting;
using VaultGrains.Hosting.Audit;

namespace VaultGrains.Api;

public static class ApiHostingExtensions
{
    /// <summary>Connects this front end to the cluster as an Orleans client, using the same membership table as the silos.</summary>
    public static WebApplicationBuilder AddVaultClusterClient(this WebApplicationBuilder builder)
    {
        var calls = builder.AddClusterCallOptions();
        builder.AddVaultClusterClient(calls.Timeout, client =>
        {
            client.AddOutgoingGrainCallFilter<ClusterCallRetry>();

            // The dashboard's client side: its UI is served on the management port (ManagementEndpoints).
            client.AddDashboard();
        });
        return builder;
    }

    /// <summary>How long the API waits for the cluster (<c>ClusterCalls:*</c>), validated now and at start.</summary>
    internal static ClusterCallOptions AddClusterCallOptions(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IValidateOptions<ClusterCallOptions>, ClusterCallOptionsValidator>();
        builder.Services.AddOptions<ClusterCallOptions>().Bind(builder.Configuration.GetSection(ClusterCallOptions.Section)).ValidateOnStart();
        return SettingsExtensions.Validated(builder.Configuration.GetSection(ClusterCallOptions.Section).Get<ClusterCallOptions>() ?? new(), new ClusterCallOptionsValidator());
    }

    /// <summary>Authentication, limits and health for the public and admin API.</summary>
    public static WebApplicationBuilder AddVaultApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>();
        services.AddOptions<AdminOptions>()
            .Bind(builder.Configuration.GetSection(AdminOptions.Section))
            .PostConfigure(options => options.Token ??= builder.Configuration["VAULT_ADMIN_TOKEN"])
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RuntimeEnvironmentOptions>, RuntimeEnvironmentOptionsValidator>();
        services.AddOptions<RuntimeEnvironmentOptions>().Bind(builder.Configuration.GetSection(RuntimeEnvironmentOptions.Section)).ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ApiKeyAuthentication>();
        builder.AddVaultRequestLimits();
        services.AddSingleton<AdminAuthentication>();
        services.AddSingleton<RefusedChangeRecorder>();
        services.AddOptions<ReadAuditOptions>().Bind(builder.Configuration.GetSection(ReadAuditOptions.Section)).ValidateOnStart();
        services.AddSingleton<ReadRecorder>();
        services.AddFailedAuthenticationAudit(builder.Configuration);
        services.AddSingleton<IdempotencyFilter>();
        services.AddSingleton<ClusterHealth>();

        // The API enforces its own body limit (1 MiB) rather than Kestrel's 30 MB default.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = SecretRules.MaxRequestBodyBytes);
        services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(20));
        return builder;
    }

    public static WebApplication MapVaultApi(this WebApplication app)
    {
        app.UseMiddleware<ErrorBoundary>();
        app.UseVaultAdminListener();
        app.UseRateLimiter();
        var api = app.MapGroup("/api/public/v1").RequireVaultRequestLimits();
        api.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<ApiKeyAuthentication>().FilterAsync(context, next));
        api.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<IdempotencyFilter>().FilterPublicAsync(context, next));
        api.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<RefusedChangeRecorder>().FilterPublicAsync(context, next));
        api.AddEndpointFilter((context, next) => context.HttpContext.RequestServices.GetRequiredService<ReadRecorder>().FilterPublicAsync(context, next));
        api.MapVaultEndpoints();
        api.MapSecretEndpoints();
        api.MapRuntimeEndpoints();
        api.MapAuditEndpoints();
        app.MapAdminEndpoints();
        app.MapHealthEndpoints();
        return app;
    }
}
