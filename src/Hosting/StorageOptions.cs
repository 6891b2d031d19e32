using System.Text.RegularExpressions;
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

    public string ClusterTable => $"{Prefix}cluster";

    public BlobServiceClient CreateBlobServiceClient() =>
        ConnectionString is { Length: > 0 } connection
            ? new BlobServiceClient(connection)
            : new BlobServiceClient(BlobServiceUri, new DefaultAzureCredential());

    public TableServiceClient CreateTableServiceClient() =>
        ConnectionString is { Length: > 0 } connection
            ? new TableServiceClient(connection)
            : new TableServiceClient(TableServiceUri, new DefaultAzureCredential());

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

        if (!StorageOptions.PrefixShape().IsMatch(options.Prefix))
        {
            failures.Add($"Storage:Prefix \"{options.Prefix}\" must be 3-31 lower-case letters and digits, starting with a letter.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
