using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace VaultGrains.Api;

/// <summary>The operator's admin token (<c>Admin:Token</c>, or the <c>VAULT_ADMIN_TOKEN</c> environment variable).</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>When empty, the admin API answers 404 to everything.</summary>
    public string? Token { get; set; }
}

internal sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options) =>
        options.Token is { Length: > 0 and < 16 }
            ? ValidateOptionsResult.Fail("Admin:Token (VAULT_ADMIN_TOKEN) must be at least 16 characters.")
            : ValidateOptionsResult.Success;
}

/// <summary>Admits only the admin token; public API keys are not admin tokens.</summary>
internal sealed class AdminAuthentication(IOptions<AdminOptions> options)
{
    private readonly byte[]? tokenHash = options.Value.Token is { Length: > 0 } token ? SHA256.HashData(Encoding.UTF8.GetBytes(token)) : null;

    /// <summary>False when no admin token is configured: everything behind it answers 404.</summary>
    public bool IsConfigured => tokenHash is not null;

    /// <summary>
    /// The request carries the admin token: as <c>Authorization: Bearer</c>, or (for a browser, which
    /// cannot send a bearer header from the address bar) as the password of <c>Authorization: Basic</c>.
    /// </summary>
    public bool IsAdmin(HttpRequest request, bool allowBasic = false)
    {
        var presented = ApiKeyAuthentication.BearerToken(request) ?? (allowBasic ? BasicPassword(request) : null);
        return tokenHash is not null && presented is not null
            && CryptographicOperations.FixedTimeEquals(tokenHash, SHA256.HashData(Encoding.UTF8.GetBytes(presented)));
    }

    private static string? BasicPassword(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Basic ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[scheme.Length..].Trim()));
            return decoded.IndexOf(':') is >= 0 and var colon ? decoded[(colon + 1)..] : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (tokenHash is null)
        {
            return ApiResults.Error(StatusCodes.Status404NotFound, "not found");
        }

        if (!IsAdmin(context.HttpContext.Request))
        {
            ApiMetrics.AuthenticationFailed("admin");
            return ApiResults.Error(StatusCodes.Status401Unauthorized, "invalid or missing admin token");
        }

        new AuditActor(AuditActor.Admin, null).MakeCurrent();
        return await next(context);
    }
}
