using Microsoft.Extensions.Options;
using Orleans.Dashboard;
using VaultGrains.Hosting.Telemetry;

namespace VaultGrains.Api;

/// <summary>
/// The API's management side (<c>Management:Port</c>, loopback by default): Prometheus
/// <c>/metrics</c> and the Orleans dashboard at <c>/dashboard</c>, neither on the public listener.
/// </summary>
public static class ManagementEndpoints
{
    public const string DashboardPath = "/dashboard";

    /// <summary>
    /// Maps <c>/metrics</c> and the dashboard. The dashboard answers only with the admin token
    /// (<c>Authorization: Bearer</c>, or as the password of HTTP Basic so a browser can open it),
    /// and 404 when no admin token is configured, like the admin API. Call before the API's endpoints.
    /// </summary>
    public static WebApplication MapVaultManagement(this WebApplication app)
    {
        app.UseVaultManagement();
        if (app.Services.GetRequiredService<IOptions<ManagementOptions>>().Value.Port == 0)
        {
            return app;
        }

        var admin = app.Services.GetRequiredService<AdminAuthentication>();
        app.UseWhen(context => context.Request.Path.StartsWithSegments(DashboardPath), dashboard => dashboard.Use((context, next) =>
        {
            if (!admin.IsConfigured)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            if (!admin.Admits(context, allowBasic: true))
            {
                ApiMetrics.AuthenticationFailed("dashboard");
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"VaultGrains dashboard\", charset=\"UTF-8\"";
                return Task.CompletedTask;
            }

            return next(context);
        }));
        app.MapOrleansDashboard(DashboardPath).ExcludeFromDescription();
        return app;
    }
}
