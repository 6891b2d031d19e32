using Microsoft.Extensions.Options;
using VaultGrains.Grains;

namespace VaultGrains.Silo;

/// <summary>An operator's proxy CA comes as a pair of readable files, or not at all.</summary>
internal sealed class ProxyAuthorityOptionsValidator : IValidateOptions<ProxyAuthorityOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyAuthorityOptions options)
    {
        var certificate = options.CertificateFile is { Length: > 0 };
        var key = options.KeyFile is { Length: > 0 };
        if (certificate != key)
        {
            return ValidateOptionsResult.Fail("ProxyAuthority:CertificateFile and ProxyAuthority:KeyFile go together: set both or neither.");
        }

        var failures = new List<string>();
        if (certificate && !File.Exists(options.CertificateFile))
        {
            failures.Add($"ProxyAuthority:CertificateFile: no file at {options.CertificateFile}.");
        }

        if (key && !File.Exists(options.KeyFile))
        {
            failures.Add($"ProxyAuthority:KeyFile: no file at {options.KeyFile}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
