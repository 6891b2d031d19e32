using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using VaultGrains.Hosting.Audit;
using VaultGrains.Proxy.Destinations;
using VaultGrains.Proxy.Forwarding;
using VaultGrains.Proxy.Release;

namespace VaultGrains.Proxy.Tunnel;

/// <summary>
/// Kestrel connection middleware on the proxy listener. Kestrel has no CONNECT tunnel API, so this
/// reads the first request head off the raw connection: a CONNECT is authenticated, its destination
/// checked and answered here, and the connection then continues into Kestrel's own TLS middleware
/// and HTTP/1.1 or HTTP/2 parser with a <see cref="ProxyTunnel"/> feature. Anything else goes to the
/// HTTP pipeline untouched, without TLS.
/// </summary>
internal sealed partial class ConnectTunnelMiddleware(
    IRuntimeDirectory directory,
    DestinationPolicy policy,
    FailedAuthenticationSummaries failedAuthentications,
    ILogger<ConnectTunnelMiddleware> logger)
{
    private const int MaxHeadBytes = 16 * 1024;
    private static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] ConnectPrefix = "CONNECT "u8.ToArray();
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();
    private static readonly byte[] Established = "HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray();

    /// <summary>
    /// Puts the CONNECT handling, then TLS, on <paramref name="listen"/>. The plain branch is the
    /// delegate after TLS (Kestrel's HTTP middleware), so a non-CONNECT connection skips TLS.
    /// </summary>
    public static void Attach(ListenOptions listen, ConnectTunnelMiddleware middleware, TlsHandshakeCallbackOptions tls)
    {
        ConnectionDelegate? plain = null;
        listen.Use(next => connection => middleware.OnConnectionAsync(connection, next, plain!));
        listen.UseHttps(tls);
        // Built before the delegates above (Kestrel builds the chain back to front).
        listen.Use(next => plain = next);
    }

    /// <summary>
    /// TLS for a tunnel: the client's SNI must name the CONNECT host (no SNI for an IP-literal host),
    /// checked before any certificate is issued; then the leaf for exactly that host.
    /// </summary>
    public static TlsHandshakeCallbackOptions TlsOptions(TunnelCertificates certificates, ILogger logger) => new()
    {
        HandshakeTimeout = TimeSpan.FromSeconds(10),
        OnConnection = async context =>
        {
            var tunnel = context.Connection.Features.Get<ProxyTunnel>()
                ?? throw new AuthenticationException("TLS outside an accepted CONNECT.");
            if (!tunnel.AcceptsServerName(context.ClientHelloInfo.ServerName))
            {
                LogServerNameMismatch(logger, tunnel.RuntimeId, tunnel.Host);
                throw new AuthenticationException("The TLS server name does not name the CONNECT host.");
            }

            var certificate = await certificates.GetContextAsync(tunnel.Host, context.CancellationToken).ConfigureAwait(false);
            return new SslServerAuthenticationOptions { ServerCertificateContext = certificate };
        },
    };

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate tls, ConnectionDelegate plain)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        timeout.CancelAfter(HeadTimeout);
        var input = connection.Transport.Input;
        string head;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var buffer = result.Buffer;
            var prefix = MatchConnectPrefix(buffer);
            if (prefix == PrefixMatch.No)
            {
                // Not a CONNECT: hand every byte, unconsumed and unexamined, to Kestrel's HTTP parser.
                input.AdvanceTo(buffer.Start);
                await plain(connection).ConfigureAwait(false);
                return;
            }

            if (prefix == PrefixMatch.Yes)
            {
                var reader = new SequenceReader<byte>(buffer);
                if (reader.TryReadTo(out ReadOnlySequence<byte> headBytes, HeadEnd, advancePastDelimiter: true))
                {
                    head = Encoding.Latin1.GetString(headBytes);
                    input.AdvanceTo(reader.Position);
                    break;
                }

                if (buffer.Length > MaxHeadBytes)
                {
                    input.AdvanceTo(buffer.End);
                    await WriteErrorAsync(connection, 431, "Request Header Fields Too Large", "request head too large").ConfigureAwait(false);
                    return;
                }
            }

            if (result.IsCompleted)
            {
                input.AdvanceTo(buffer.End);
                return;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }

        await AcceptAsync(connection, head, tls, timeout.Token).ConfigureAwait(false);
    }

    private async Task AcceptAsync(ConnectionContext connection, string head, ConnectionDelegate tls, CancellationToken cancellationToken)
    {
        if (!ConnectRequest.TryParse(head, out var request, out var error))
        {
            await WriteErrorAsync(connection, 400, "Bad Request", error!).ConfigureAwait(false);
            return;
        }

        var client = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        if (!ProxyCredentials.TryParse(request!.ProxyAuthorization, out var runtimeId, out var token))
        {
            ProxyCredentials.RecordUnreadable(failedAuthentications, client, request.ProxyAuthorization);
            await WriteAuthenticationRequiredAsync(connection).ConfigureAwait(false);
            return;
        }

        RuntimeSecrets? secrets;
        DestinationDecision decision;
        try
        {
            secrets = await directory.AuthenticateAsync(runtimeId, token, cancellationToken).ConfigureAwait(false);
            if (secrets is null)
            {
                ProxyCredentials.RecordRefused(failedAuthentications, client, runtimeId, token);
                LogAuthenticationFailed(logger, request.Host);
                await WriteAuthenticationRequiredAsync(connection).ConfigureAwait(false);
                return;
            }

            decision = await policy.CheckAsync(request.Host, request.Port, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e)
        {
            LogDirectoryFailed(logger, e.GetType().Name);
            await WriteErrorAsync(connection, 503, "Service Unavailable", "proxy unavailable").ConfigureAwait(false);
            return;
        }

        if (!decision.Allowed)
        {
            LogDestinationRefused(logger, secrets.RuntimeId, request.Host, request.Port, decision.Refusal);
            await WriteErrorAsync(connection, 403, "Forbidden", "destination not allowed").ConfigureAwait(false);
            return;
        }

        await connection.Transport.Output.WriteAsync(Established, cancellationToken).ConfigureAwait(false);
        connection.Features.Set(new ProxyTunnel(secrets.RuntimeId, token, request.Host, request.Port, decision.Addresses));
        await tls(connection).ConfigureAwait(false);
    }

    private static Task WriteAuthenticationRequiredAsync(ConnectionContext connection) =>
        WriteErrorAsync(connection, 407, "Proxy Authentication Required", ProxyErrors.AuthenticationRequired, $"Proxy-Authenticate: {ProxyErrors.ProxyAuthenticate}\r\n");

    private static async Task WriteErrorAsync(ConnectionContext connection, int status, string reason, string message, string extraHeaders = "")
    {
        var body = ProxyErrors.JsonBytes(message);
        var head = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\n{extraHeaders}Content-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        try
        {
            var output = connection.Transport.Output;
            output.Write(head);
            output.Write(body);
            await output.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away; there is nobody left to tell.
        }
    }

    private enum PrefixMatch { No, Maybe, Yes }

    private static PrefixMatch MatchConnectPrefix(ReadOnlySequence<byte> buffer)
    {
        Span<byte> start = stackalloc byte[ConnectPrefix.Length];
        var length = (int)Math.Min(buffer.Length, ConnectPrefix.Length);
        buffer.Slice(0, length).CopyTo(start);
        if (!start[..length].SequenceEqual(ConnectPrefix.AsSpan(0, length)))
        {
            return PrefixMatch.No;
        }

        return length == ConnectPrefix.Length ? PrefixMatch.Yes : PrefixMatch.Maybe;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "CONNECT to {Host} refused: proxy credentials not accepted")]
    private static partial void LogAuthenticationFailed(ILogger logger, string host);

    [LoggerMessage(Level = LogLevel.Information, Message = "CONNECT by {RuntimeId} to {Host}:{Port} refused: {Refusal}")]
    private static partial void LogDestinationRefused(ILogger logger, string runtimeId, string host, int port, string? refusal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CONNECT failed: the runtime directory threw {ExceptionType}")]
    private static partial void LogDirectoryFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS in tunnel of {RuntimeId} to {Host} refused: SNI names another host")]
    private static partial void LogServerNameMismatch(ILogger logger, string runtimeId, string host);
}
