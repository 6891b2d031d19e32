using System.Net;
using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting.Telemetry;

/// <summary>What a process measures and exports (section <c>Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>Metrics (Prometheus on the management port, OTLP when configured), traces and the silo's dashboard side. On by default.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Traces. Unset: on when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (there is somewhere to send
    /// them), off otherwise, so a process without a collector pays nothing for spans it would drop.
    /// </summary>
    public bool? Tracing { get; set; }

    /// <summary>The process hosts its side of the Orleans dashboard (silos; the API serves the UI). On by default.</summary>
    public bool Dashboard { get; set; } = true;
}

/// <summary>
/// The management listener (section <c>Management</c>): Prometheus <c>/metrics</c>, and in the API the
/// Orleans dashboard at <c>/dashboard</c>. Never served on the public listener. Off unless a port is set.
/// </summary>
public sealed class ManagementOptions
{
    public const string Section = "Management";

    /// <summary>TCP port of the management listener; 0 turns it off.</summary>
    public int Port { get; set; }

    /// <summary>The address it listens on: loopback by default; <c>0.0.0.0</c> where a scraper on another host must reach it (a pod).</summary>
    public string Address { get; set; } = "127.0.0.1";

    public IPEndPoint EndPoint => new(IPAddress.Parse(Address), Port);

    public string Url => $"http://{(IPAddress.Parse(Address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address)}:{Port}";
}

internal sealed class ManagementOptionsValidator : IValidateOptions<ManagementOptions>
{
    public ValidateOptionsResult Validate(string? name, ManagementOptions options)
    {
        var failures = new List<string>();
        if (options.Port is < 0 or > 65535)
        {
            failures.Add("Management:Port must be a TCP port (1-65535), or 0 for no management listener.");
        }

        if (!IPAddress.TryParse(options.Address, out _))
        {
            failures.Add($"Management:Address \"{options.Address}\" is not an IP address.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
