using System.Text;

namespace VaultGrains.Proxy.Tunnel;

/// <summary>Reads <c>Proxy-Authorization: Basic base64(runtime_id:token)</c>, what curl, Python, Node and Go send for credentials in the proxy URL.</summary>
internal static class ProxyCredentials
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static bool TryParse(string? headerValue, out string runtimeId, out string token)
    {
        runtimeId = token = "";
        if (headerValue is null)
        {
            return false;
        }

        var value = headerValue.AsSpan().Trim();
        var space = value.IndexOf(' ');
        if (space <= 0 || !value[..space].Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var encoded = value[(space + 1)..].Trim();
        var bytes = new byte[(encoded.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64Chars(encoded, bytes, out var length))
        {
            return false;
        }

        string credentials;
        try
        {
            credentials = StrictUtf8.GetString(bytes, 0, length);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        var colon = credentials.IndexOf(':');
        if (colon <= 0 || colon == credentials.Length - 1)
        {
            return false;
        }

        runtimeId = credentials[..colon];
        token = credentials[(colon + 1)..];
        return true;
    }
}
