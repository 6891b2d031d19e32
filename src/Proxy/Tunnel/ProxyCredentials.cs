using VaultGrains.Proxy.Release;

namespace VaultGrains.Proxy.Tunnel;

/// <summary>Reads <c>Proxy-Authorization: Basic base64(runtime_id:token)</c>, what curl, Python, Node and Go send for credentials in the proxy URL.</summary>
internal static class ProxyCredentials
{
    public static bool TryParse(string? headerValue, out string runtimeId, out string token)
    {
        runtimeId = token = "";
        if (!BasicCredentials.TryDecode(headerValue, out _, out var credentials))
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
