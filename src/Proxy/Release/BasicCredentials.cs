using System.Text;

namespace VaultGrains.Proxy.Release;

/// <summary>The <c>Basic</c> scheme of <c>Authorization</c> and <c>Proxy-Authorization</c>: base64 of UTF-8 <c>user:password</c>.</summary>
internal static class BasicCredentials
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The decoded credentials of a <c>Basic</c> header value and its scheme as written; false for any other scheme or bad encoding.</summary>
    public static bool TryDecode(string? headerValue, out string scheme, out string credentials)
    {
        scheme = credentials = "";
        if (headerValue is null)
        {
            return false;
        }

        var trimmed = headerValue.AsSpan().Trim();
        var space = trimmed.IndexOf(' ');
        if (space <= 0 || !trimmed[..space].Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var encoded = trimmed[(space + 1)..].Trim();
        var bytes = new byte[(encoded.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64Chars(encoded, bytes, out var length))
        {
            return false;
        }

        try
        {
            credentials = StrictUtf8.GetString(bytes, 0, length);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        scheme = trimmed[..space].ToString();
        return true;
    }

    public static string Encode(string scheme, string credentials) => $"{scheme} {Convert.ToBase64String(StrictUtf8.GetBytes(credentials))}";
}
