using System.Globalization;

namespace VaultGrains.Domain;

/// <summary>
/// Allowed-domain patterns: an exact host name, or <c>*.</c> and a host name of at least two
/// labels, which matches any host one or more labels below it but never the apex itself.
/// Patterns are stored normalized: lower case, no trailing dot, IDNA names as punycode.
/// </summary>
public static class DomainPattern
{
    private const int MaxHostLength = 253;
    private static readonly IdnMapping Idn = new() { UseStd3AsciiRules = true, AllowUnassigned = false };

    /// <summary>Normalizes a pattern, or returns the reason it is refused.</summary>
    public static bool TryNormalize(string pattern, out string normalized, out string? error)
    {
        normalized = "";
        var wildcard = pattern.StartsWith("*.", StringComparison.Ordinal);
        var host = wildcard ? pattern[2..] : pattern;
        if (!TryNormalizeHost(host, out var normalizedHost, out error))
        {
            error = $"invalid domain pattern \"{Truncate(pattern)}\": {error}";
            return false;
        }

        if (wildcard && normalizedHost.Split('.').Length < 2)
        {
            error = $"invalid domain pattern \"{Truncate(pattern)}\": a wildcard needs a domain of at least two labels";
            return false;
        }

        normalized = wildcard ? "*." + normalizedHost : normalizedHost;
        return true;
    }

    /// <summary>Normalizes a list: each pattern checked, duplicates removed keeping the first.</summary>
    public static bool TryNormalizeAll(IReadOnlyList<string> patterns, out List<string> normalized, out string? error)
    {
        normalized = new List<string>(patterns.Count);
        error = null;
        if (patterns.Count > SecretRules.MaxAllowedDomains)
        {
            error = "allowed_domains must have at most 50 entries";
            return false;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pattern in patterns)
        {
            if (!TryNormalize(pattern, out var one, out error))
            {
                return false;
            }

            if (seen.Add(one))
            {
                normalized.Add(one);
            }
        }

        return true;
    }

    /// <summary>True when a destination host (any case, trailing dot or port allowed) may receive a secret with these patterns.</summary>
    public static bool IsAllowed(IReadOnlyList<string> normalizedPatterns, string destination)
    {
        if (normalizedPatterns.Count == 0)
        {
            return true;
        }

        if (!TryNormalizeDestination(destination, out var host))
        {
            return false;
        }

        foreach (var pattern in normalizedPatterns)
        {
            if (Matches(pattern, host))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Matches one normalized pattern against one normalized host.</summary>
    public static bool Matches(string normalizedPattern, string normalizedHost)
    {
        if (normalizedPattern.StartsWith("*.", StringComparison.Ordinal))
        {
            var suffix = normalizedPattern[1..];
            return normalizedHost.Length > suffix.Length && normalizedHost.EndsWith(suffix, StringComparison.Ordinal);
        }

        return string.Equals(normalizedPattern, normalizedHost, StringComparison.Ordinal);
    }

    private static bool TryNormalizeDestination(string destination, out string host)
    {
        host = destination.Trim();
        var colon = host.LastIndexOf(':');
        if (colon > 0 && host.IndexOf(':') == colon && int.TryParse(host.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            host = host[..colon];
        }

        return TryNormalizeHost(host, out host, out _);
    }

    private static bool TryNormalizeHost(string host, out string normalized, out string? error)
    {
        normalized = "";
        error = null;
        if (host.EndsWith('.'))
        {
            host = host[..^1];
        }

        if (host.Length == 0)
        {
            error = "empty host name";
            return false;
        }

        if (host.Contains('*'))
        {
            error = "a wildcard is only allowed as a leading \"*.\"";
            return false;
        }

        if (host.Contains("://", StringComparison.Ordinal) || host.IndexOfAny([':', '/', '@', '?', '#', '[', ']', ' ']) >= 0)
        {
            error = "only a host name is allowed (no scheme, port, path or user info)";
            return false;
        }

        string ascii;
        try
        {
            ascii = Idn.GetAscii(host).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            // IdnMapping refuses over-long names too; say which rule was broken.
            error = host.Length > MaxHostLength ? "host name longer than 253 characters" : "not a valid host name";
            return false;
        }

        if (ascii.Length > MaxHostLength)
        {
            error = "host name longer than 253 characters";
            return false;
        }

        var labels = ascii.Split('.');
        foreach (var label in labels)
        {
            if (!IsRfc1123Label(label))
            {
                error = "not a valid host name";
                return false;
            }
        }

        if (labels.All(label => label.All(char.IsAsciiDigit)))
        {
            error = "IP addresses are not allowed";
            return false;
        }

        normalized = ascii;
        return true;
    }

    private static bool IsRfc1123Label(string label) =>
        label.Length is > 0 and <= 63
        && char.IsAsciiLetterOrDigit(label[0])
        && char.IsAsciiLetterOrDigit(label[^1])
        && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    private static string Truncate(string pattern) => pattern.Length <= 64 ? pattern : pattern[..64] + "…";
}
