using System.Net;
using Microsoft.Extensions.Options;
using VaultGrains.Proxy.Destinations;
using VaultGrains.Proxy.Forwarding;

namespace VaultGrains.Proxy;

/// <summary>The secret proxy's listener and what it may connect to (section <c>Proxy</c>).</summary>
public sealed class ProxyOptions
{
    public const string Section = "Proxy";

    /// <summary>The address the proxy listens on; loopback unless the operator opens it.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>The proxy's port; 0 picks a free one (tests).</summary>
    public int Port { get; set; } = 8081;

    /// <summary>Allows loopback, private and link-local destinations (development only).</summary>
    public bool AllowPrivate { get; set; }

    /// <summary>Fixed answers for names, like curl's <c>--resolve</c>: <c>api.example.test=127.0.0.1,…</c>.</summary>
    public string? Resolve { get; set; }

    /// <summary>A PEM file with one extra CA trusted for upstream TLS, besides the system roots.</summary>
    public string? UpstreamCaFile { get; set; }

    /// <summary>Upstream ports a tunnel may go to, comma separated.</summary>
    public string AllowedPorts { get; set; } = "443";

    /// <summary>The destination rules these options describe; call only on validated options.</summary>
    public DestinationOptions ToDestinationOptions()
    {
        DestinationOptions.TryParseResolve(Resolve, out var resolve, out _);
        DestinationOptions.TryParsePorts(AllowedPorts, out var ports, out _);
        return new DestinationOptions { AllowPrivate = AllowPrivate, Resolve = resolve, AllowedPorts = ports };
    }
}

internal sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        var failures = new List<string>();
        if (!IPAddress.TryParse(options.Address, out _))
        {
            failures.Add("Proxy:Address: not an IP address.");
        }

        if (options.Port is < 0 or > 65535)
        {
            failures.Add("Proxy:Port: must be between 0 and 65535.");
        }

        if (!DestinationOptions.TryParseResolve(options.Resolve, out _, out var resolveError))
        {
            failures.Add($"Proxy:Resolve: {resolveError}.");
        }

        if (!DestinationOptions.TryParsePorts(options.AllowedPorts, out _, out var portsError))
        {
            failures.Add($"Proxy:AllowedPorts: {portsError}.");
        }

        if (options.UpstreamCaFile is { Length: > 0 } caFile)
        {
            if (!File.Exists(caFile))
            {
                failures.Add($"Proxy:UpstreamCaFile: file \"{caFile}\" does not exist.");
            }
            else if (!UpstreamTrust.TryLoadAuthority(caFile, out _))
            {
                failures.Add($"Proxy:UpstreamCaFile: \"{caFile}\" holds no PEM certificate.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
