using System.Text.RegularExpressions;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting;

/// <summary>
/// Where the service keeps its state: an Azure Storage account (Azurite locally). Either a
/// connection string, or the blob and table endpoints reached with <c>DefaultAzureCredential</c>.
/// </summary>
public sealed partial class StorageOptions
{
    public const string Section = "Storage";

    public string? ConnectionString { get; set; }

    public Uri? BlobServiceUri { get; set; }

    public Uri? TableServiceUri { get; set; }

    /// <summary>Names every container and table of this service, so several services (or tests) share one account safely.</summary>
    public string Prefix { get; set; } = "vaultgrains";

    public string VaultContainer => $"{Prefix}-vaults";

    public string OrganizationContainer => $"{Prefix}-organizations";

    public string ApiKeyTable => $"{Prefix}apikeys";

    public string RuntimeTable => $"{Prefix}runtimes";

    public string AuditContainer => $"{Prefix}-audit";

    public string ClusterTable => $"{Prefix}cluster";

    public string IdempotencyTable => $"{Prefix}idempotency";

    /// <summary>
    /// Retries of one storage operation after the first attempt. The SDK default (3, with delays
    /// from 0.8 s growing to a minute) lets one grain write outlast the API's request deadline;
    /// a caller that waits is better served by a quick, clear failure it can retry.
    /// </summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>Delay before the first retry; doubles for each further one (capped at one second).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How long one attempt may wait for the storage service (the SDK default is 100 s). Bounds a
    /// write to a hung endpoint; generous enough for the largest vault blob (~9 MB) in one region.
    /// </summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public BlobServiceClient CreateBlobServiceClient()
    {
        var options = Bounded(new BlobClientOptions());
        return ConnectionString is { Length: > 0 } connection
            ? new BlobServiceClient(connection, options)
            : new BlobServiceClient(BlobServiceUri, new DefaultAzureCredential(), options);
    }

    public TableServiceClient CreateTableServiceClient()
    {
        var options = Bounded(new TableClientOptions());
        return ConnectionString is { Length: > 0 } connection
            ? new TableServiceClient(connection, options)
            : new TableServiceClient(TableServiceUri, new DefaultAzureCredential(), options);
    }

    private T Bounded<T>(T options)
        where T : ClientOptions
    {
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = MaxRetries;
        options.Retry.Delay = RetryDelay;
        options.Retry.MaxDelay = TimeSpan.FromSeconds(1);
        options.Retry.NetworkTimeout = NetworkTimeout;
        return options;
    }

    [GeneratedRegex("^[a-z][a-z0-9]{2,30}$")]
    internal static partial Regex PrefixShape();
}

internal sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ConnectionString) && (options.BlobServiceUri is null || options.TableServiceUri is null))
        {
            failures.Add("Storage:ConnectionString is required, or both Storage:BlobServiceUri and Storage:TableServiceUri (used with DefaultAzureCredential).");
        }

        if (!string.IsNullOrWhiteSpace(options.ConnectionString) && !options.ConnectionString.Contains('='))
        {
            failures.Add("Storage:ConnectionString is not a storage connection string (expected key=value pairs).");
        }

        if (options.MaxRetries is < 0 or > 10)
        {
            failures.Add("Storage:MaxRetries must be between 0 and 10.");
        }

        if (options.RetryDelay < TimeSpan.Zero || options.RetryDelay > TimeSpan.FromSeconds(10))
        {
            failures.Add("Storage:RetryDelay must be between 00:00:00 and 00:00:10.");
        }

        if (options.NetworkTimeout < TimeSpan.FromMilliseconds(500) || options.NetworkTimeout > TimeSpan.FromMinutes(5))
        {
            failures.Add("Storage:NetworkTimeout must be between 00:00:00.5 and 00:05:00.");
        }

        if (!StorageOptions.PrefixShape().IsMatch(options.Prefix))
        {
            failures.Add($"Storage:Prefix \"{options.Prefix}\" must be 3-31 lower-case letters and digits, starting with a letter.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
