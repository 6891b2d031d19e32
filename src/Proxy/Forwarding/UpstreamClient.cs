using System.Net;
using System.Net.Sockets;
using VaultGrains.Proxy.Destinations;

namespace VaultGrains.Proxy.Forwarding;

/// <summary>The destination a request was checked for, carried to the connect callback in the request's options.</summary>
internal sealed record CheckedDestination(string Host, int Port, IReadOnlyList<IPAddress> Addresses)
{
    public static readonly HttpRequestOptionsKey<CheckedDestination> Key = new("VaultGrains.Proxy.CheckedDestination");
}

/// <summary>The one shared upstream client: verified TLS, no redirects, no cookies, no trace headers, and only checked addresses.</summary>
internal sealed class UpstreamInvoker(UpstreamTrust trust, DestinationPolicy policy) : IDisposable
{
    public HttpMessageInvoker Invoker { get; } = Create(trust, policy);

    public void Dispose() => Invoker.Dispose();

    private static HttpMessageInvoker Create(UpstreamTrust trust, DestinationPolicy policy)
    {
        var handler = new SocketsHttpHandler
        {
            // A redirect goes back to the agent: following it here would send released values to
            // a host nobody checked.
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            ActivityHeadersPropagator = null,
            ConnectTimeout = TimeSpan.FromSeconds(15),
            // Bounds how long a pooled connection outlives the DNS answer it was checked against.
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            EnableMultipleHttp2Connections = true,
            ConnectCallback = (context, cancellationToken) => ConnectCheckedAsync(context, policy, cancellationToken),
        };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => trust.Validate(certificate, chain, errors);
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private static async ValueTask<Stream> ConnectCheckedAsync(SocketsHttpConnectionContext context, DestinationPolicy policy, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        IReadOnlyList<IPAddress> addresses;
        if (context.InitialRequestMessage.Options.TryGetValue(CheckedDestination.Key, out var destination)
            && string.Equals(destination.Host, host, StringComparison.OrdinalIgnoreCase)
            && destination.Port == port
            && destination.Addresses.Count > 0)
        {
            addresses = destination.Addresses;
        }
        else
        {
            var plainHttp = context.InitialRequestMessage.RequestUri?.Scheme == Uri.UriSchemeHttp;
            var decision = plainHttp
                ? await policy.CheckPlainHttpAsync(host, port, cancellationToken).ConfigureAwait(false)
                : await policy.CheckAsync(host, port, cancellationToken).ConfigureAwait(false);
            if (!decision.Allowed)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, "destination not allowed");
            }

            addresses = decision.Addresses;
        }

        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new HttpRequestException(HttpRequestError.ConnectionError, "upstream unreachable", last);
    }
}
