using System.Net;
using VaultGrains.Domain;
using VaultGrains.Hosting.Audit;
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

    /// <summary>Counts a <c>Proxy-Authorization</c> that is absent or not <c>Basic runtime_id:token</c>, for the audit trail's summary.</summary>
    public static void RecordUnreadable(FailedAuthenticationSummaries summaries, IPAddress? client, string? headerValue) =>
        summaries.Record(ClientAddress.Of(client), FailedCredential.RuntimeToken, string.IsNullOrEmpty(headerValue) ? FailureReason.Missing : FailureReason.Malformed);

    /// <summary>
    /// Counts credentials the runtime directory refused, for the audit trail's summary: by runtime id
    /// when both parts are well formed (whose runtime it is is looked up later), else as malformed. Never the token.
    /// </summary>
    public static void RecordRefused(FailedAuthenticationSummaries summaries, IPAddress? client, string runtimeId, string token)
    {
        var address = ClientAddress.Of(client);
        if (ResourceId.IsValid(runtimeId, ResourceId.Runtime) && Credentials.RuntimeToken.IsWellFormed(token))
        {
            summaries.RecordRefusedRuntimeToken(address, runtimeId);
        }
        else
        {
            summaries.Record(address, FailedCredential.RuntimeToken, FailureReason.Malformed);
        }
    }
}
