using Microsoft.Extensions.Options;
using VaultGrains.Grains.Audit;

namespace VaultGrains.Silo;

internal sealed class AuditOptionsValidator : IValidateOptions<AuditOptions>
{
    public ValidateOptionsResult Validate(string? name, AuditOptions options)
    {
        var failures = new List<string>();
        if (options.Retention < TimeSpan.FromSeconds(1))
        {
            failures.Add("Audit:Retention must be at least 00:00:01 (default 400.00:00:00).");
        }

        if (options.SegmentBytes is < 1024 or > 64 * 1024 * 1024)
        {
            failures.Add("Audit:SegmentBytes must be between 1024 and 67108864.");
        }

        if (options.WriteDelay < TimeSpan.Zero || options.WriteDelay > TimeSpan.FromSeconds(10))
        {
            failures.Add("Audit:WriteDelay must be between 00:00:00 and 00:00:10 (default 00:00:01).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
