using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Connections.Security;
using VaultGrains.Domain;
using VaultGrains.Hosting.ClusterTls;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// What someone who reaches a silo's ports can do: an Orleans client of their own (with whatever
/// certificate they have, or none), or raw bytes. The attacker's clients accept any server
/// certificate, so only the silo's own check can keep them out.
/// </summary>
public static class ClusterAccess
{
    /// <summary>A client with the cluster's own <paramref name="component"/> certificate, as the API and proxy have.</summary>
    public static ClientSetup Member(string directory, string component = "api") => new(TestClusterTls.Settings(component, directory), client => client.UseVaultClusterTls());

    /// <summary>Plain Orleans, no TLS at all.</summary>
    public static ClientSetup Plaintext() => new(new Dictionary<string, string?>(), _ => { });

    /// <summary>TLS that trusts any server, presenting <paramref name="certificate"/> (or no certificate).</summary>
    public static ClientSetup Intruder(X509Certificate2? certificate) => new(new Dictionary<string, string?>(), client => client.UseTls(options =>
    {
        options.AllowAnyRemoteCertificate();
        options.LocalCertificate = certificate;
        options.ClientCertificateMode = certificate is null ? RemoteCertificateMode.AllowCertificate : RemoteCertificateMode.RequireCertificate;
        if (certificate is not null)
        {
            options.LocalClientCertificateSelector = (_, _, _, _, _) => certificate;
        }
    }));

    /// <summary>A certificate of the given PEM pair, with its key.</summary>
    public static X509Certificate2 LoadCertificate(string directory, string component) =>
        X509CertificateLoader.LoadPkcs12(
            X509Certificate2.CreateFromPemFile(ClusterCertificates.CertificatePath(directory, component), ClusterCertificates.KeyPath(directory, component)).Export(X509ContentType.Pkcs12), null);

    /// <summary>
    /// Starts an Orleans client of the gateway at <paramref name="gateway"/> and calls two grains
    /// (a system grain and an organization). Null when both answered within <paramref name="limit"/>;
    /// otherwise what stopped it.
    /// </summary>
    public static async Task<string?> CallGrainsAsync(IPEndPoint gateway, string clusterId, string serviceId, ClientSetup setup, TimeSpan limit, string? organizationName = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(setup.Settings);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(options =>
            {
                options.ClusterId = clusterId;
                options.ServiceId = serviceId;
            });
            client.UseStaticClustering(gateway);
            client.Configure<ClientMessagingOptions>(options => options.ResponseTimeout = TimeSpan.FromSeconds(5));
            setup.Configure(client);
        });
        using var host = builder.Build();
        using var deadline = new CancellationTokenSource(limit);
        var stage = "connecting";
        try
        {
            await host.StartAsync(deadline.Token);
            var client = host.Services.GetRequiredService<IClusterClient>();
            stage = "calling the management grain";
            await client.GetGrain<IManagementGrain>(0).GetHosts().WaitAsync(deadline.Token);
            stage = "creating an organization";
            var created = await client.GetGrain<IOrganizationGrain>(ResourceId.New(ResourceId.Organization)).Create(organizationName ?? "Probe").WaitAsync(deadline.Token);
            return created.Succeeded ? null : $"organization not created: {created.Error}";
        }
        catch (Exception e)
        {
            return $"{stage}: {e.GetType().Name}: {e.Message}";
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await host.StopAsync(stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Sends <paramref name="bytes"/> in clear to <paramref name="endpoint"/> and reads until the far
    /// end closes (or <paramref name="limit"/> passes). Returns what came back and whether it closed.
    /// </summary>
    public static async Task<(byte[] Answer, bool Closed)> SendPlainAsync(IPEndPoint endpoint, byte[] bytes, TimeSpan limit)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(endpoint);
        var stream = socket.GetStream();
        await stream.WriteAsync(bytes);
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        using var deadline = new CancellationTokenSource(limit);
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, deadline.Token);
                if (read == 0)
                {
                    return (answer.ToArray(), true);
                }

                answer.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            return (answer.ToArray(), true);
        }
        catch (OperationCanceledException)
        {
            return (answer.ToArray(), false);
        }
    }

    /// <summary>
    /// A TLS connection to <paramref name="endpoint"/> presenting <paramref name="certificate"/>:
    /// true when the far end speaks Orleans on it or keeps it open for a second after the
    /// handshake, false when it refuses or closes it.
    /// </summary>
    public static async Task<bool> KeepsTlsConnectionOpenAsync(IPEndPoint endpoint, X509Certificate2 certificate)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(endpoint);
        await using var tls = new SslStream(socket.GetStream(), false, (_, _, _, _) => true, (_, _, _, _, _) => certificate);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "vaultgrains-silo",
                ClientCertificates = [certificate],
                EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls13,
            });
            // A silo speaks first on its silo port (its preamble); a gateway waits for the client's.
            // Either is acceptance. A close or an alert after the handshake is a refusal: with
            // TLS 1.3 the server judges the client's certificate after the client has finished.
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            return await tls.ReadAsync(new byte[16], wait.Token) > 0;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or SocketException)
        {
            return false;
        }
    }

    /// <summary>How a probing client is set up: its configuration and its TLS.</summary>
    public sealed record ClientSetup(IReadOnlyDictionary<string, string?> Settings, Action<IClientBuilder> Configure);
}

/// <summary>
/// Keeps every byte an Orleans client's connections put on the wire and take off it: a connection
/// middleware registered before TLS, so it sits next to the socket and sees what an observer of
/// the network would.
/// </summary>
public sealed class WireRecorder
{
    private readonly MemoryStream sent = new();
    private readonly MemoryStream received = new();

    public byte[] Sent => Snapshot(sent);

    public byte[] Received => Snapshot(received);

    /// <summary>Registers the recorder; call before the client's TLS is set up.</summary>
    public void Attach(IClientBuilder client) => client.Configure<ClientConnectionOptions>(options => options.ConfigureConnection(builder => builder.Use(next => async context =>
    {
        var socket = context.Transport;
        var toApplication = new Pipe();
        var fromApplication = new Pipe();
        var pumps = Task.WhenAll(
            PumpAsync(socket.Input, toApplication.Writer, received),
            PumpAsync(fromApplication.Reader, socket.Output, sent));
        context.Transport = new Duplex(toApplication.Reader, fromApplication.Writer);
        try
        {
            await next(context);
        }
        finally
        {
            context.Transport = socket;
            await fromApplication.Writer.CompleteAsync();
            await Task.WhenAny(pumps, Task.Delay(TimeSpan.FromSeconds(1)));
        }
    })));

    private static async Task PumpAsync(PipeReader from, PipeWriter to, MemoryStream record)
    {
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    lock (record)
                    {
                        record.Write(segment.Span);
                    }

                    await to.WriteAsync(segment);
                }

                from.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
        }
        finally
        {
            await to.CompleteAsync();
        }
    }

    private static byte[] Snapshot(MemoryStream record)
    {
        lock (record)
        {
            return record.ToArray();
        }
    }

    private sealed record Duplex(PipeReader Input, PipeWriter Output) : IDuplexPipe;
}
