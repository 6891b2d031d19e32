using System.Text;
using VaultGrains.Domain;
using VaultGrains.Proxy.Destinations;

namespace VaultGrains.Proxy.Release;

/// <summary>Where a request inside a tunnel goes, as far as the release rule cares.</summary>
/// <param name="Host">The tunnel's host (CONNECT target, SNI and Host header agree on it).</param>
/// <param name="Port">The tunnel's port.</param>
/// <param name="PortAllowed">True when the port is 443 or one the operator allowed.</param>
/// <param name="Tls">True inside a terminated TLS tunnel; false for plain <c>http://</c>.</param>
public sealed record ReleaseTarget(string Host, int Port, bool PortAllowed, bool Tls);

/// <summary>What happened to one placeholder occurrence. Never carries a value in its text form.</summary>
/// <param name="Secret">The secret the placeholder names.</param>
/// <param name="Location"><c>path</c>, <c>query</c>, <c>header</c> or <c>authorization</c>.</param>
/// <param name="Released">True when the value was put in.</param>
/// <param name="Reason">For a refusal: <c>plain_http</c>, <c>ip_literal</c>, <c>port_not_allowed</c>, <c>domain_not_allowed</c>, <c>invalid_header_value</c>.</param>
public sealed record ReleaseDecision(ReleasableSecret Secret, string Location, bool Released, string? Reason);

/// <summary>
/// Replaces <c>CCASECRET_&lt;ENV_KEY&gt;</c> placeholders in a request's target and header values
/// with the secret values of one runtime, where the release rule allows it, and reports one
/// <see cref="ReleaseDecision"/> per occurrence. Built once per runtime snapshot; safe to share
/// between concurrent requests.
/// </summary>
public sealed class PlaceholderRewriter
{
    /// <summary>What every placeholder starts with.</summary>
    public const string Prefix = "CCASECRET_";

    /// <summary>Location names, as in <see cref="ReleaseEvent.Location"/>.</summary>
    public const string PathLocation = "path", QueryLocation = "query", HeaderLocation = "header", AuthorizationLocation = "authorization";

    /// <summary>Refusal reasons, as in <see cref="ReleaseEvent.Reason"/>.</summary>
    public const string PlainHttp = "plain_http", IpLiteral = "ip_literal", PortNotAllowed = "port_not_allowed",
        DomainNotAllowed = "domain_not_allowed", InvalidHeaderValue = "invalid_header_value";


    private readonly Dictionary<string, ReleasableSecret>.AlternateLookup<ReadOnlySpan<char>> _byEnvKey;
    private readonly int _longestEnvKey;

    /// <summary>Indexes the runtime's secrets by <c>env_key</c>; the first listed wins a shared key.</summary>
    public PlaceholderRewriter(RuntimeSecrets secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        var byEnvKey = new Dictionary<string, ReleasableSecret>(StringComparer.Ordinal);
        foreach (var secret in secrets.Secrets)
        {
            if (byEnvKey.TryAdd(secret.EnvKey, secret))
            {
                _longestEnvKey = Math.Max(_longestEnvKey, secret.EnvKey.Length);
            }
        }

        _byEnvKey = byEnvKey.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>True when the text holds at least one placeholder for a secret of this runtime.</summary>
    public bool ContainsPlaceholder(string text)
    {
        var start = 0;
        while (FindNext(text, start, out var index, out var secret))
        {
            if (secret is not null)
            {
                return true;
            }

            start = index + Prefix.Length;
        }

        return false;
    }

    /// <summary>
    /// Rewrites a request target (<c>/path?query</c>). Values are percent-encoded, so a value can
    /// never add a path segment, a query parameter or a fragment.
    /// </summary>
    public string RewritePathAndQuery(string pathAndQuery, ReleaseTarget target, List<ReleaseDecision> decisions)
    {
        if (!pathAndQuery.Contains(Prefix, StringComparison.Ordinal))
        {
            return pathAndQuery;
        }

        var question = pathAndQuery.IndexOf('?');
        if (question < 0)
        {
            return Rewrite(pathAndQuery, PathLocation, target, decisions, Uri.EscapeDataString, headerValue: false);
        }

        var path = Rewrite(pathAndQuery[..question], PathLocation, target, decisions, Uri.EscapeDataString, headerValue: false);
        var query = Rewrite(pathAndQuery[question..], QueryLocation, target, decisions, Uri.EscapeDataString, headerValue: false);
        return path + query;
    }

    /// <summary>
    /// Rewrites one header value. Inside <c>Authorization: Basic</c> the credentials are decoded,
    /// rewritten and encoded again. A value holding CR, LF or NUL is never put into a header.
    /// </summary>
    public string RewriteHeader(string name, string value, ReleaseTarget target, List<ReleaseDecision> decisions)
    {
        if (string.Equals(name, "Authorization", StringComparison.OrdinalIgnoreCase) && TryRewriteBasic(value, target, decisions, out var rewritten))
        {
            return rewritten;
        }

        if (!value.Contains(Prefix, StringComparison.Ordinal))
        {
            return value;
        }

        return Rewrite(value, HeaderLocation, target, decisions, static v => v, headerValue: true);
    }

    private bool TryRewriteBasic(string value, ReleaseTarget target, List<ReleaseDecision> decisions, out string rewritten)
    {
        rewritten = value;
        if (!BasicCredentials.TryDecode(value, out var scheme, out var credentials))
        {
            return false;
        }

        if (!credentials.Contains(Prefix, StringComparison.Ordinal))
        {
            return true;
        }

        var replaced = Rewrite(credentials, AuthorizationLocation, target, decisions, static v => v, headerValue: true);
        if (!ReferenceEquals(replaced, credentials))
        {
            rewritten = BasicCredentials.Encode(scheme, replaced);
        }

        return true;
    }

    private string Rewrite(string text, string location, ReleaseTarget target, List<ReleaseDecision> decisions, Func<string, string> encode, bool headerValue)
    {
        StringBuilder? builder = null;
        var copied = 0;
        var start = 0;
        while (FindNext(text, start, out var index, out var secret))
        {
            if (secret is null)
            {
                start = index + Prefix.Length;
                continue;
            }

            var end = index + Prefix.Length + secret.EnvKey.Length;
            var reason = RefusalFor(secret, target) ?? (headerValue && secret.Value.AsSpan().ContainsAny('\r', '\n', '\0') ? InvalidHeaderValue : null);
            decisions.Add(new ReleaseDecision(secret, location, reason is null, reason));
            if (reason is null)
            {
                builder ??= new StringBuilder(text.Length + 64);
                builder.Append(text, copied, index - copied).Append(encode(secret.Value));
                copied = end;
            }

            start = end;
        }

        if (builder is null)
        {
            return text;
        }

        return builder.Append(text, copied, text.Length - copied).ToString();
    }

    private static string? RefusalFor(ReleasableSecret secret, ReleaseTarget target)
    {
        if (!target.Tls)
        {
            return PlainHttp;
        }

        if (DestinationPolicy.IsIpLiteral(target.Host))
        {
            return IpLiteral;
        }

        if (!target.PortAllowed)
        {
            return PortNotAllowed;
        }

        return DomainPattern.IsAllowed(secret.AllowedDomains, target.Host) ? null : DomainNotAllowed;
    }

    // The next "CCASECRET_" at or after start, and the secret whose env_key is the longest one that
    // the following characters begin with (null when none does).
    private bool FindNext(string text, int start, out int index, out ReleasableSecret? secret)
    {
        secret = null;
        index = start >= text.Length ? -1 : text.IndexOf(Prefix, start, StringComparison.Ordinal);
        if (index < 0)
        {
            return false;
        }

        var nameStart = index + Prefix.Length;
        var nameEnd = nameStart;
        var limit = Math.Min(text.Length, nameStart + _longestEnvKey);
        while (nameEnd < limit && (char.IsAsciiLetterOrDigit(text[nameEnd]) || text[nameEnd] == '_'))
        {
            nameEnd++;
        }

        for (var end = nameEnd; end > nameStart; end--)
        {
            if (_byEnvKey.TryGetValue(text.AsSpan(nameStart, end - nameStart), out var found))
            {
                secret = found;
                return true;
            }
        }

        return true;
    }
}
