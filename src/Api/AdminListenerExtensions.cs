using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Options;
using VaultGrains.Hosting;

namespace VaultGrains.Api;

/// <summary>
/// Where the admin API listens (section <c>Admin</c>, beside <c>Admin:Token</c>): on the public
/// listener while <see cref="Port"/> is 0, otherwise on a listener of its own, so that a
/// deployment can keep it off the public Service and the internet altogether.
/// </summary>
public sealed class AdminListenerOptions
{
    public const string Section = "Admin";

    /// <summary>TCP port of the admin listener; 0 (default) serves the admin API on the public listener.</summary>
    public int Port { get; set; }

    /// <summary>The address it listens on: loopback by default; <c>0.0.0.0</c> in a pod that operators reach through a NetworkPolicy.</summary>
    public string Address { get; set; } = "127.0.0.1";

    public string Url => $"http://{(IPAddress.Parse(Address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address)}:{Port}";
}

internal sealed class AdminListenerOptionsValidator : IValidateOptions<AdminListenerOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminListenerOptions options)
    {
        var failures = new List<string>();
        if (options.Port is < 0 or > 65535)
        {
            failures.Add("Admin:Port must be a TCP port (1-65535), or 0 to serve the admin API on the public listener.");
        }

        if (!IPAddress.TryParse(options.Address, out _))
        {
            failures.Add($"Admin:Address \"{options.Address}\" is not an IP address.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

public static class AdminListenerExtensions
{
    public const string AdminPath = "/api/admin";

    /// <summary>With <c>Admin:Port</c> set, a second Kestrel listener for the admin API.</summary>
    public static WebApplicationBuilder AddVaultAdminListener(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IValidateOptions<AdminListenerOptions>, AdminListenerOptionsValidator>();
        builder.Services.AddOptions<AdminListenerOptions>().Bind(builder.Configuration.GetSection(AdminListenerOptions.Section)).ValidateOnStart();
        var admin = SettingsExtensions.Validated(builder.Configuration.GetSection(AdminListenerOptions.Section).Get<AdminListenerOptions>() ?? new(), new AdminListenerOptionsValidator());
        if (admin.Port != 0)
        {
            var urls = builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey) is { Length: > 0 } configured ? configured : "http://localhost:5000";
            builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, $"{urls};{admin.Url}");
        }

        return builder;
    }

    /// <summary>
    /// On the admin port only the admin API answers; elsewhere the admin API is 404, as an unknown
    /// route is. Decided by the port the connection arrived on, never by the Host header a client
    /// chooses. Nothing changes while <c>Admin:Port</c> is 0.
    /// </summary>
    public static WebApplication UseVaultAdminListener(this WebApplication app)
    {
        var port = app.Services.GetRequiredService<IOptions<AdminListenerOptions>>().Value.Port;
        if (port == 0)
        {
            return app;
        }

        app.Use((context, next) =>
        {
            var onAdminPort = context.Connection.LocalPort == port;
            if (onAdminPort != context.Request.Path.StartsWithSegments(AdminPath))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        return app;
    }
}
