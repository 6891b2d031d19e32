using System.Runtime.CompilerServices;
using System.Net;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using VaultGrains.Hosting.Audit;
using VaultGrains.Proxy.Destinations;
using VaultGrains.Proxy.Release;
using VaultGrains.Proxy.Tunnel;
using Yarp.ReverseProxy.Forwarder;

namespace VaultGrains.Proxy.Forwarding;

/// <summary>
/// Every HTTP request on the proxy listener: requests inside a CONNECT tunnel (bound to the tunnel's
/// host, re-authenticated, released and forwarded over verified TLS), plain <c>http://</c> forwards
/// (never a release) and the readiness check.
/// </summary>
internal sealed partial class ProxyRequestHandler(
    IRuntimeDirectory directory,
    DestinationPolicy policy,
    DestinationOptions destinations,
    IHttpForwarder forwarder,
    UpstreamInvoker upstream,
    IReleaseEventSink events,
    FailedAuthenticationSummaries failedAuthentications,
    ILogger<ProxyRequestHandler> logger)
{
    private static readonly ForwarderRequestConfig RequestConfig = new() { ActivityTimeout = TimeSpan.FromSeconds(100) };
    private static readonly byte[] HealthyBody = "{\"status\":\"ok\"}"u8.ToArray();

    // The rewriter's and scrubber's lookups are built once per runtime snapshot (the directory hands
    // out the same RuntimeSecrets until the runtime changes), not once per request.
    private static readonly ConditionalWeakTable<RuntimeSecrets, PreparedSecrets> Prepared = new();

    public Task HandleAsync(HttpContext context) =>
        context.Features.Get<ProxyTunnel>() is { } tunnel ? HandleTunnelRequestAsync(context, tunnel) : HandleDirectRequestAsync(context);

    private async Task HandleTunnelRequestAsync(HttpContext context, ProxyTunnel tunnel)
    {
        var secrets = await AuthenticateAsync(context, tunnel.RuntimeId, tunnel.Token).ConfigureAwait(false);
        if (secrets is null)
        {
            return;
        }

        var serverName = context.Features.Get<ITlsHandshakeFeature>()?.HostName;
        if (!tunnel.IsNamedBy(context.Request.Host) || !tunnel.AcceptsServerName(serverName))
        {
            LogMisdirected(logger, tunnel.RuntimeId, tunnel.Host);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status421MisdirectedRequest, "misdirected request").ConfigureAwait(false);
            return;
        }

        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        string pathAndQuery;
        if (rawTarget.StartsWith('/'))
        {
            pathAndQuery = rawTarget;
        }
        else if (Uri.TryCreate(rawTarget, UriKind.Absolute, out var absolute) && absolute.Scheme == Uri.UriSchemeHttps)
        {
            pathAndQuery = absolute.PathAndQuery;
        }
        else
        {
            await ProxyErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid request target").ConfigureAwait(false);
            return;
        }

        var target = new ReleaseTarget(tunnel.Host, tunnel.Port, destinations.AllowedPorts.Contains(tunnel.Port), Tls: true);
        var origin = new UriBuilder(Uri.UriSchemeHttps, tunnel.Host, tunnel.Port).Uri;
        await ForwardAsync(context, secrets, target, origin, pathAndQuery, new CheckedDestination(tunnel.Host, tunnel.Port, tunnel.Addresses)).ConfigureAwait(false);
    }

    private async Task HandleDirectRequestAsync(HttpContext context)
    {
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        if (rawTarget.StartsWith('/'))
        {
            if (HttpMethods.IsGet(context.Request.Method) && context.Request.Path == "/healthz")
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = HealthyBody.Length;
                await context.Response.Body.WriteAsync(HealthyBody, context.RequestAborted).ConfigureAwait(false);
                return;
            }

            await ProxyErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "not a proxy request").ConfigureAwait(false);
            return;
        }

        if (!Uri.TryCreate(rawTarget, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.UserInfo.Length > 0)
        {
            await ProxyErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "unsupported request target").ConfigureAwait(false);
            return;
        }

        var proxyAuthorization = context.Request.Headers[HeaderNames.ProxyAuthorization].ToString();
        if (!ProxyCredentials.TryParse(proxyAuthorization, out var runtimeId, out var token))
        {
            ProxyCredentials.RecordUnreadable(failedAuthentications, context.Connection.RemoteIpAddress, proxyAuthorization);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status407ProxyAuthenticationRequired, ProxyErrors.AuthenticationRequired).ConfigureAwait(false);
            return;
        }

        var secrets = await AuthenticateAsync(context, runtimeId, token).ConfigureAwait(false);
        if (secrets is null)
        {
            return;
        }

        var host = ProxyTunnel.NormalizeHost(uri.Host);
        var decision = await policy.CheckPlainHttpAsync(host, uri.Port, context.RequestAborted).ConfigureAwait(false);
        if (!decision.Allowed)
        {
            LogDestinationRefused(logger, secrets.RuntimeId, host, uri.Port, decision.Refusal);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status403Forbidden, "destination not allowed").ConfigureAwait(false);
            return;
        }

        // Plain http:// is forwarded but never released: Tls = false makes every placeholder a refusal.
        var target = new ReleaseTarget(host, uri.Port, destinations.AllowedPorts.Contains(uri.Port), Tls: false);
        var origin = new UriBuilder(Uri.UriSchemeHttp, host, uri.Port).Uri;
        await ForwardAsync(context, secrets, target, origin, uri.PathAndQuery, new CheckedDestination(host, uri.Port, decision.Addresses)).ConfigureAwait(false);
    }

    private async Task<RuntimeSecrets?> AuthenticateAsync(HttpContext context, string runtimeId, string token)
    {
        RuntimeSecrets? secrets;
        try
        {
            secrets = await directory.AuthenticateAsync(runtimeId, token, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogDirectoryFailed(logger, e.GetType().Name);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "proxy unavailable").ConfigureAwait(false);
            return null;
        }

        if (secrets is null)
        {
            ProxyCredentials.RecordRefused(failedAuthentications, context.Connection.RemoteIpAddress, runtimeId, token);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status407ProxyAuthenticationRequired, ProxyErrors.AuthenticationRequired).ConfigureAwait(false);
        }

        return secrets;
    }

    private async Task ForwardAsync(HttpContext context, RuntimeSecrets secrets, ReleaseTarget target, Uri origin, string pathAndQuery, CheckedDestination destination)
    {
        var (rewriter, scrubber) = Prepared.GetValue(secrets, static held => new PreparedSecrets(new PlaceholderRewriter(held), new ResponseScrubber(held.Secrets)));
        var method = context.Request.Method;
        if (HttpMethods.IsTrace(method) || HttpMethods.IsConnect(method))
        {
            // TRACE echoes the request back; an agent has no use for it, and a CONNECT inside a tunnel is not a tunnel.
            var refused = new List<ReleaseDecision>();
            rewriter.RewritePathAndQuery(pathAndQuery, target, refused);
            foreach (var (name, values) in context.Request.Headers)
            {
                foreach (var value in values)
                {
                    rewriter.RewriteHeader(name, value ?? "", target, refused);
                }
            }

            Record(secrets, target, method, pathAndQuery, refused.Select(decision => decision with { Released = false, Reason = "method_not_allowed" }));
            await ProxyErrors.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method not allowed").ConfigureAwait(false);
            return;
        }

        var transformer = new ReleasingTransformer(rewriter, scrubber, target, origin, pathAndQuery, destination);
        ForwarderError error;
        try
        {
            error = await forwarder.SendAsync(context, origin.GetLeftPart(UriPartial.Authority), upstream.Invoker, RequestConfig, transformer).ConfigureAwait(false);
            if (error == ForwarderError.None)
            {
                await transformer.CompleteBodyAsync(context, context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogForwardFailed(logger, secrets.RuntimeId, target.Host, e.GetType().Name);
            error = ForwarderError.Request;
        }
        finally
        {
            Record(secrets, target, method, pathAndQuery, transformer.Decisions);
        }

        if (error == ForwarderError.None)
        {
            return;
        }

        LogUpstreamError(logger, secrets.RuntimeId, target.Host, target.Port, error);
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }

        if (error is not ForwarderError.RequestCanceled)
        {
            await ProxyErrors.WriteAsync(context, StatusCodes.Status502BadGateway, "bad gateway").ConfigureAwait(false);
        }
    }

    private void Record(RuntimeSecrets secrets, ReleaseTarget target, string method, string pathAndQuery, IEnumerable<ReleaseDecision> decisions)
    {
        string? auditPath = null;
        foreach (var decision in decisions)
        {
            auditPath ??= WithoutQueryValues(pathAndQuery);
            events.Record(new ReleaseEvent(
                secrets.RuntimeId,
                decision.Secret.VaultId,
                decision.Secret.SecretId,
                decision.Secret.EnvKey,
                target.Host,
                method,
                auditPath,
                decision.Location,
                decision.Released ? "released" : "refused",
                decision.Released ? null : decision.Reason,
                secrets.OrganizationId));
        }
    }

    private sealed record PreparedSecrets(PlaceholderRewriter Rewriter, ResponseScrubber Scrubber);

    /// <summary>The path with only the names of its query parameters: <c>/v1/items?key&amp;page</c>.</summary>
    internal static string WithoutQueryValues(string pathAndQuery)
    {
        var question = pathAndQuery.IndexOf('?');
        if (question < 0)
        {
            return pathAndQuery;
        }

        var names = pathAndQuery[(question + 1)..]
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2)[0]);
        return pathAndQuery[..question] + "?" + string.Join('&', names);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Request in tunnel of {RuntimeId} to {Host} refused: Host or SNI names another host")]
    private static partial void LogMisdirected(ILogger logger, string runtimeId, string host);

    [LoggerMessage(Level = LogLevel.Information, Message = "Plain HTTP request by {RuntimeId} to {Host}:{Port} refused: {Refusal}")]
    private static partial void LogDestinationRefused(ILogger logger, string runtimeId, string host, int port, string? refusal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Proxy request failed: the runtime directory threw {ExceptionType}")]
    private static partial void LogDirectoryFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forward for {RuntimeId} to {Host} threw {ExceptionType}")]
    private static partial void LogForwardFailed(ILogger logger, string runtimeId, string host, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Forward for {RuntimeId} to {Host}:{Port} failed: {Error}")]
    private static partial void LogUpstreamError(ILogger logger, string runtimeId, string host, int port, ForwarderError error);
}
