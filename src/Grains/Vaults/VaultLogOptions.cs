using Microsoft.Extensions.Options;

namespace VaultGrains.Grains.Vaults;

/// <summary>When a vault's log is compacted (section <c>VaultLog</c>): past either threshold, the next batch writes a checkpoint instead of a record.</summary>
public sealed class VaultLogOptions
{
    public const string Section = "VaultLog";

    /// <summary>
    /// Bytes of records after the checkpoint (default 1 MiB). A cold activation reads the
    /// checkpoint plus at most this much; a full vault's checkpoint is ~300 KiB.
    /// </summary>
    public int CompactAfterBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Records after the checkpoint (default 128). Each record is one block of the Append Blob, and
    /// reading a blob costs per block: on Azurite (busy machine) a 1,000-secret vault read in
    /// 6-10 ms from one checkpoint, 33 ms with up to 256 records after it and 198 ms with 1,000
    /// (154 ms of it the download), so the log is kept short; a compaction costs one checkpoint
    /// (~300 KiB for a full vault) per 128 batches.
    /// </summary>
    public int CompactAfterRecords { get; set; } = 128;
}

public sealed class VaultLogOptionsValidator : IValidateOptions<VaultLogOptions>
{
    public ValidateOptionsResult Validate(string? name, VaultLogOptions options)
    {
        List<string> failures = [];
        if (options.CompactAfterBytes is < 1024 or > 256 * 1024 * 1024)
        {
            failures.Add($"{VaultLogOptions.Section}:{nameof(VaultLogOptions.CompactAfterBytes)} must be between 1024 and 268435456 bytes.");
        }

        if (options.CompactAfterRecords is < 1 or > 1_000_000)
        {
            failures.Add($"{VaultLogOptions.Section}:{nameof(VaultLogOptions.CompactAfterRecords)} must be between 1 and 1000000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
