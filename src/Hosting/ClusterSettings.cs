using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting;

/// <summary>How silos find each other and clients find gateways (section <c>Orleans</c>).</summary>
public sealed class ClusterSettings
{
    public const string Section = "Orleans";
    public const string AzureStorage = "AzureStorage";
    public const string Localhost = "Localhost";

    /// <summary>One deployment of the cluster; a fresh id per deployment keeps stale membership rows out of the way.</summary>
    public string ClusterId { get; set; } = "vaultgrains-dev";

    /// <summary>The service across deployments: grain state is keyed by it, so it must never change.</summary>
    public string ServiceId { get; set; } = "vaultgrains";

    /// <summary><c>AzureStorage</c> (membership table) or <c>Localhost</c> (single-machine development).</summary>
    public string Clustering { get; set; } = AzureStorage;

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address silos advertise to each other; loopback when unset.</summary>
    public string? AdvertisedIPAddress { get; set; }

    /// <summary>
    /// Silos only: use Orleans' experimental strongly consistent grain directory instead of the
    /// default eventually consistent one. Every silo of a cluster must agree. Off by default.
    /// </summary>
    public bool UseDistributedGrainDirectory { get; set; }
}

internal sealed class ClusterSettingsValidator : IValidateOptions<ClusterSettings>
{
    public ValidateOptionsResult Validate(string? name, ClusterSettings options)
    {
        var failures = new List<string>();
        if (options.Clustering is not (ClusterSettings.AzureStorage or ClusterSettings.Localhost))
        {
            failures.Add($"Orleans:Clustering must be \"AzureStorage\" or \"Localhost\", not \"{options.Clustering}\".");
        }

        if (string.IsNullOrWhiteSpace(options.ClusterId))
        {
            failures.Add("Orleans:ClusterId is required.");
        }

        if (string.IsNullOrWhiteSpace(options.ServiceId))
        {
            failures.Add("Orleans:ServiceId is required.");
        }

        if (options.SiloPort is < 1 or > 65535)
        {
            failures.Add("Orleans:SiloPort must be a TCP port (1-65535).");
        }

        if (options.GatewayPort is < 1 or > 65535)
        {
            failures.Add("Orleans:GatewayPort must be a TCP port (1-65535).");
        }

        if (options.AdvertisedIPAddress is { Length: > 0 } ip && !System.Net.IPAddress.TryParse(ip, out _))
        {
            failures.Add($"Orleans:AdvertisedIPAddress \"{ip}\" is not an IP address.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
