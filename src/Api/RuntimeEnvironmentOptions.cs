using Microsoft.Extensions.Options;

namespace VaultGrains.Api;

/// <summary>What the runtime environment endpoint tells agents about the secret proxy (section <c>Proxy</c>).</summary>
public sealed class RuntimeEnvironmentOptions
{
    public const string Section = "Proxy";

    /// <summary>The proxy's address as agents reach it (<c>proxy_url</c>); credentials are added by the agent's launcher.</summary>
    public string ProxyUrl { get; set; } = "http://127.0.0.1:8081";
}

internal sealed class RuntimeEnvironmentOptionsValidator : IValidateOptions<RuntimeEnvironmentOptions>
{
    public ValidateOptionsResult Validate(string? name, RuntimeEnvironmentOptions options) =>
        Uri.TryCreate(options.ProxyUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.UserInfo.Length == 0 && uri.AbsolutePath == "/"
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"Proxy:ProxyUrl must be an http:// or https:// URL with a host and port only (got '{options.ProxyUrl}').");
}
