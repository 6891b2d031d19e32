using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace VaultGrains.Proxy.Forwarding;

/// <summary>The proxy's error answers: always <c>{"error":"…"}</c>, never exception text.</summary>
internal static class ProxyErrors
{
    public const string AuthenticationRequired = "proxy authentication required";
    public const string ProxyAuthenticate = "Basic realm=\"vaultgrains\"";

    public static string Json(string message) => "{\"error\":" + JsonSerializer.Serialize(message) + "}";

    public static byte[] JsonBytes(string message) => Encoding.UTF8.GetBytes(Json(message));

    public static async Task WriteAsync(HttpContext context, int status, string message)
    {
        var response = context.Response;
        response.Clear();
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (status == StatusCodes.Status407ProxyAuthenticationRequired)
        {
            response.Headers[HeaderNames.ProxyAuthenticate] = ProxyAuthenticate;
        }

        var body = JsonBytes(message);
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }
}
