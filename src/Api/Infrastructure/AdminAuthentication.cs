using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using VaultGrains.Hosting.Audit;

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

/// <summary>
/// Admits only the admin token; public API keys are not admin tokens. Every refusal is counted for
/// the audit trail's <c>auth.failed</c> summaries (system trail, credential <c>admin</c>).
/// </summary>
internal sealed class AdminAuthentication(IOptions<AdminOptions> options, FailedAuthenticationSummaries summaries)
{
    private readonly byte[]? tokenHash = options.Value.Token is { Length: > 0 } token ? SHA256.HashData(Encoding.UTF8.GetBytes(token)) : null;

    /// <summary>False when no admin token is configured: everything behind it answers 404.</summary>
    public bool IsConfigured => tokenHash is not null;

    /// <summary>
    /// The request carries the admin token: as <c>Authorization: Bearer</c>, or (for a browser, which
    /// cannot send a bearer header from the address bar) as the password of <c>Authorization: Basic</c>.
    /// </summary>
    /// <remarks>A refusal is counted against the client's address for the failed-authentication summary.</remarks>
    public bool Admits(HttpContext http, bool allowBasic = false)
    {
        if (Refusal(http.Request, allowBasic) is not { } reason)
        {
            return true;
        }

        summaries.Record(FailedAuthentications.AddressOf(http), FailedCredential.Admin, reason);
        return false;
    }

    // Why the request is not the admin's; null when it is.
    private FailureReason? Refusal(HttpRequest request, bool allowBasic)
    {
        if ((ApiKeyAuthentication.BearerToken(request) ?? (allowBasic ? BasicPassword(request) : null)) is not { } presented)
        {
            return FailureReason.Missing;
        }

        return tokenHash is not null && CryptographicOperations.FixedTimeEquals(tokenHash, SHA256.HashData(Encoding.UTF8.GetBytes(presented)))
            ? null
            : FailureReason.WrongToken;
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

        if (!Admits(context.HttpContext))
        {
            ApiMetrics.AuthenticationFailed("admin");
            return ApiResults.Error(StatusCodes.Status401Unauthorized, "invalid or missing admin token");
        }

        new AuditActor(AuditActor.Admin, null).MakeCurrent();
        return await next(context);
    }
}
