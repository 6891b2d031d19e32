using System.Text.Json.Nodes;

namespace VaultGrains.Cli.Run;

/// <summary>
/// The environment a command gets from <c>vaultgrains run</c>: the runtime's placeholders, the proxy
/// with the runtime's credentials, and the trust variables pointing at the CA bundle. What would let
/// it act for the user (the API key, the runtime token variable) and what would let it bypass the
/// proxy (<c>NO_PROXY</c>) are taken out.
/// </summary>
public static class AgentEnvironment
{
    /// <summary>Every variable curl, Python, Node, Go, OpenSSL and Git read for the proxy.</summary>
    public static readonly string[] ProxyVariables = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];

    /// <summary>Every variable those tools read for the CAs they trust.</summary>
    public static readonly string[] TrustVariables = ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"];

    /// <summary>Removed: a NO_PROXY entry would send a request around the proxy, with the placeholder and no release.</summary>
    public static readonly string[] Removed = ["NO_PROXY", "no_proxy", "VAULTGRAINS_API_KEY", "VAULTGRAINS_RUNTIME_TOKEN"];

    public static void Apply(IDictionary<string, string?> environment, JsonNode runtimeEnvironment, string runtimeId, string token, string bundlePath)
    {
        foreach (var name in Removed)
        {
            environment.Remove(name);
        }

        foreach (var (name, value) in (JsonObject)runtimeEnvironment["variables"]!)
        {
            environment[name] = (string?)value;
        }

        var proxy = ProxyUrl((string)runtimeEnvironment["proxy_url"]!, runtimeId, token);
        foreach (var name in ProxyVariables)
        {
            environment[name] = proxy;
        }

        foreach (var name in TrustVariables)
        {
            environment[name] = bundlePath;
        }

        // Node 24+ uses HTTPS_PROXY for fetch and https only when asked to.
        environment["NODE_USE_ENV_PROXY"] = "1";
    }

    /// <summary><c>http://runtime_id:token@host:port</c>: what clients turn into <c>Proxy-Authorization: Basic</c>.</summary>
    public static string ProxyUrl(string proxyUrl, string runtimeId, string token)
    {
        var uri = new Uri(proxyUrl);
        return $"{uri.Scheme}://{Uri.EscapeDataString(runtimeId)}:{Uri.EscapeDataString(token)}@{uri.Authority}";
    }
}
