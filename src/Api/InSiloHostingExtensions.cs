using Microsoft.Extensions.Options;
using VaultGrains.Hosting.Telemetry;
using VaultGrains.Silo;

namespace VaultGrains.Api;

/// <summary>
/// Where the API's grain calls go (section <c>Api</c>): to a separate cluster through its gateways
/// (the default, <see cref="ApiHostingExtensions.AddVaultClusterClient"/>), or, with
/// <c>Api:HostSilo=true</c>, to a silo hosted in this very process: the API's endpoints run
/// inside a member of the cluster and a call to a grain activated here never leaves the process.
/// </summary>
public static class InSiloHostingExtensions
{
    public const string HostSiloKey = "Api:HostSilo";

    /// <summary>Joins the cluster as a client or as a silo, as <c>Api:HostSilo</c> says. <paramref name="telemetry"/> is the API's own.</summary>
    public static WebApplicationBuilder AddVaultCluster(this WebApplicationBuilder builder, TelemetryOptions telemetry)
    {
        if (!builder.Configuration.GetValue<bool>(HostSiloKey))
        {
            return builder.AddVaultClusterClient();
        }

        builder.AddClusterCallOptions();
        builder.Services.AddSingleton<ClusterCallRetry>();
        builder.AddVaultSilo(telemetry, ownManagementListener: false, silo =>
        {
            // In this order: the retry loop outside, each attempt bounded inside it.
            silo.AddOutgoingGrainCallFilter<RequestCallRetry>();
            silo.AddOutgoingGrainCallFilter<RequestCallTimeout>();
        });

        // The silo's graceful stop (hand its grains over) needs the longer grace of the two.
        builder.Services.PostConfigure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(25));
        return builder;
    }

    /// <summary>
    /// The API's retry policy for calls made on behalf of a request. Grains calling grains (no
    /// request behind them) keep Orleans' own semantics, as in a silo without the API.
    /// </summary>
    private sealed class RequestCallRetry(ClusterCallRetry retry) : IOutgoingGrainCallFilter
    {
        public Task Invoke(IOutgoingGrainCallContext context) =>
            context.SourceContext is null ? retry.Invoke(context) : context.Invoke();
    }

    /// <summary>
    /// One attempt's limit (<c>ClusterCalls:Timeout</c>), which a client gets from its response
    /// timeout; a silo's response timeout covers grain-to-grain calls too and stays at Orleans' default.
    /// </summary>
    private sealed class RequestCallTimeout(IOptions<ClusterCallOptions> options) : IOutgoingGrainCallFilter
    {
        public Task Invoke(IOutgoingGrainCallContext context) =>
            context.SourceContext is null ? context.Invoke().WaitAsync(options.Value.Timeout) : context.Invoke();
    }
}
