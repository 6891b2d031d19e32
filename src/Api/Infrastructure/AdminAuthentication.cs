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

    public async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (tokenHash is null)
        {
            return ApiResults.Error(StatusCodes.Status404NotFound, "not found");
        }

        var presented = ApiKeyAuthentication.BearerToken(context.HttpContext.Request);
        if (presented is null || !CryptographicOperations.FixedTimeEquals(tokenHash, SHA256.HashData(Encoding.UTF8.GetBytes(presented))))
        {
            return ApiResults.Error(StatusCodes.Status401Unauthorized, "invalid or missing admin token");
        }

        new AuditActor(AuditActor.Admin, null).MakeCurrent();
        return await next(context);
    }
}
