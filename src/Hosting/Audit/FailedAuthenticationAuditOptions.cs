using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting.Audit;

/// <summary>
/// The audit trail's summaries of failed authentications (section <c>Audit</c>), written by every
/// process that authenticates callers: the API (API keys, the admin token) and the proxy (runtime tokens).
/// </summary>
public sealed class FailedAuthenticationAuditOptions
{
    public const string Section = "Audit";

    /// <summary>How often the counted failures are written as <c>auth.failed</c> summaries (default one minute).</summary>
    public TimeSpan FailedAuthenticationSummaryInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Client addresses one interval's summaries hold apart (default 1,000); failures from further
    /// addresses are folded into one summary per credential with actor id <c>other</c>. At most 10,000:
    /// an interval's summaries then stay within a few tens of megabytes under any flood.
    /// </summary>
    public int FailedAuthenticationMaxAddresses { get; set; } = 1000;
}

internal sealed class FailedAuthenticationAuditOptionsValidator : IValidateOptions<FailedAuthenticationAuditOptions>
{
    public ValidateOptionsResult Validate(string? name, FailedAuthenticationAuditOptions options)
    {
        var failures = new List<string>();
        if (options.FailedAuthenticationSummaryInterval < TimeSpan.FromSeconds(1) || options.FailedAuthenticationSummaryInterval > TimeSpan.FromHours(1))
        {
            failures.Add("Audit:FailedAuthenticationSummaryInterval must be between 00:00:01 and 01:00:00.");
        }

        if (options.FailedAuthenticationMaxAddresses is < 1 or > 10_000)
        {
            failures.Add("Audit:FailedAuthenticationMaxAddresses must be between 1 and 10000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
