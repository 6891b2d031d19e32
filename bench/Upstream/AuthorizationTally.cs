using System.Text.Json.Serialization;

namespace VaultGrains.Bench.Upstream;

/// <summary>What the upstream saw in <c>Authorization</c>, so the benchmark can prove the proxy released the value.</summary>
internal sealed record AuthorizationCounts(
    [property: JsonPropertyName("requests")] long Requests,
    [property: JsonPropertyName("released")] long Released,
    [property: JsonPropertyName("placeholder")] long Placeholder,
    [property: JsonPropertyName("connections")] long Connections);

/// <summary>
/// Answers every request with 200 and a 2-byte body, and counts the requests whose
/// <c>Authorization</c> is <c>Bearer &lt;the secret value&gt;</c> (released by the proxy) or still
/// <c>Bearer CCASECRET_API_KEY</c> (sent direct, or not released).
/// </summary>
internal sealed class AuthorizationTally(string secretValue)
{
    private static readonly byte[] Body = "ok"u8.ToArray();
    private readonly string released = "Bearer " + secretValue;
    private long requests;
    private long releasedCount;
    private long placeholderCount;
    private long connections;

    /// <summary>Counts accepted connections: whether the proxy reuses its upstream connections when tunnels come and go.</summary>
    public void ConnectionAccepted() => Interlocked.Increment(ref connections);

    public AuthorizationCounts Snapshot() =>
        new(Interlocked.Read(ref requests), Interlocked.Read(ref releasedCount), Interlocked.Read(ref placeholderCount), Interlocked.Read(ref connections));

    public Task AnswerAsync(HttpContext context)
    {
        Interlocked.Increment(ref requests);
        var authorization = context.Request.Headers.Authorization.ToString();
        if (string.Equals(authorization, released, StringComparison.Ordinal))
        {
            Interlocked.Increment(ref releasedCount);
        }
        else if (string.Equals(authorization, "Bearer CCASECRET_API_KEY", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref placeholderCount);
        }

        context.Response.ContentType = "text/plain";
        context.Response.ContentLength = Body.Length;
        return context.Response.Body.WriteAsync(Body).AsTask();
    }
}
