using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using VaultGrains.Proxy.Release;
using Yarp.ReverseProxy.Forwarder;

namespace VaultGrains.Proxy.Forwarding;

/// <summary>
/// Shapes one forwarded request: copies the agent's headers without the proxy's own, puts secret
/// values in place of placeholders where the release rule allows, and scrubs those values out of
/// the response headers and body. One instance per request.
/// </summary>
internal sealed class ReleasingTransformer(
    PlaceholderRewriter rewriter,
    ResponseScrubber scrubber,
    ReleaseTarget target,
    Uri upstreamOrigin,
    string pathAndQuery,
    CheckedDestination destination) : HttpTransformer
{
    private static readonly string[] ProxyHeaders = ["Proxy-Authorization", "Proxy-Connection", "Forwarded"];

    private ResponseScrubber.ScrubbingStream? scrubbingBody;
    private Stream? agentBody;

    /// <summary>Every placeholder occurrence met in the request, released or not.</summary>
    public List<ReleaseDecision> Decisions { get; } = [];

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        RemoveProxyHeaders(proxyRequest.Headers);
        RewriteHeaders(proxyRequest.Headers);
        if (proxyRequest.Content is not null)
        {
            RewriteHeaders(proxyRequest.Content.Headers);
        }

        var rewrittenTarget = rewriter.RewritePathAndQuery(pathAndQuery, target, Decisions);
        if (Decisions.Exists(decision => decision.Released))
        {
            // A compressed answer could not be scrubbed; ask for an identity-encoded one.
            proxyRequest.Headers.Remove(HeaderNames.AcceptEncoding);
        }

        // Appended, not resolved against the origin: a target like "//other.host/" stays a path.
        var upstreamUri = new Uri(upstreamOrigin.GetLeftPart(UriPartial.Authority) + rewrittenTarget, UriKind.Absolute);
        if (upstreamUri.Host != upstreamOrigin.Host || upstreamUri.Port != upstreamOrigin.Port)
        {
            throw new InvalidOperationException("The request target left the tunnel's host.");
        }

        proxyRequest.RequestUri = upstreamUri;
        proxyRequest.Headers.Host = null;
        proxyRequest.Options.Set(CheckedDestination.Key, destination);
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (proxyResponse is null || scrubber.IsEmpty)
        {
            return copyBody;
        }

        ScrubHeaders(httpContext.Response.Headers);
        var encoding = httpContext.Response.Headers.ContentEncoding;
        if (copyBody && (StringValues.IsNullOrEmpty(encoding) || string.Equals(encoding, "identity", StringComparison.OrdinalIgnoreCase)))
        {
            // The scrubbed body's length is not known in advance: HTTP/1.1 answers chunked.
            httpContext.Response.Headers.ContentLength = null;
            agentBody = httpContext.Response.Body;
            scrubbingBody = scrubber.Wrap(agentBody);
            httpContext.Response.Body = scrubbingBody;
        }

        return copyBody;
    }

    public override async ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken)
    {
        await CompleteBodyAsync(httpContext, cancellationToken).ConfigureAwait(false);
        await base.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (!scrubber.IsEmpty && httpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers is { } trailers)
        {
            ScrubHeaders(trailers);
        }
    }

    /// <summary>Writes out what the scrubber held back and gives the agent's body stream back.</summary>
    public async ValueTask CompleteBodyAsync(HttpContext httpContext, CancellationToken cancellationToken)
    {
        if (scrubbingBody is null)
        {
            return;
        }

        var body = scrubbingBody;
        scrubbingBody = null;
        httpContext.Response.Body = agentBody!;
        await body.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void RemoveProxyHeaders(HttpRequestHeaders headers)
    {
        foreach (var name in ProxyHeaders)
        {
            headers.Remove(name);
        }

        foreach (var name in headers.NonValidated.Select(header => header.Key).ToList())
        {
            if (name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase))
            {
                headers.Remove(name);
            }
        }
    }

    private void RewriteHeaders(HttpHeaders headers)
    {
        foreach (var (name, values) in headers.NonValidated.Select(header => (header.Key, header.Value.ToArray())).ToList())
        {
            // Authorization: Basic carries its placeholder base64-encoded, so it always goes to the rewriter.
            if (!string.Equals(name, HeaderNames.Authorization, StringComparison.OrdinalIgnoreCase)
                && !Array.Exists(values, value => value.Contains(PlaceholderRewriter.Prefix, StringComparison.Ordinal)))
            {
                continue;
            }

            var rewritten = Array.ConvertAll(values, value => rewriter.RewriteHeader(name, value, target, Decisions));
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, rewritten);
        }
    }

    private void ScrubHeaders(IHeaderDictionary headers)
    {
        foreach (var (name, values) in headers.ToList())
        {
            var scrubbed = values.Select(value => value is null ? value : scrubber.ScrubHeader(value)).ToArray();
            if (!scrubbed.SequenceEqual(values))
            {
                headers[name] = new StringValues(scrubbed);
            }
        }
    }
}
