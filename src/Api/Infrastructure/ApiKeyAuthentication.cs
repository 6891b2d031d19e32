using VaultGrains.Domain;
using System.Collections.Concurrent;

namespace VaultGrains.Api;

/// <summary>
/// Resolves <c>Authorization: Bearer nr_…</c> to the caller's organization. Answers are cached for
/// at most one second, so a revoked key stops working everywhere within that second while a
/// busy client costs one cluster call per second, not one per request.
/// </summary>
internal sealed class ApiKeyAuthentication(IGrainFactory grains, TimeProvider clock)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(1);
    internal const string OrganizationItem = "vaultgrains.organization";
    private readonly ConcurrentDictionary<string, (ResolvedApiKey Key, long ExpiresAt)> cache = new();

    public static string CallerOrganization(HttpContext context) => (string)context.Items[OrganizationItem]!;

    public async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (BearerToken(http.Request) is not { } key || !Credentials.ApiKey.IsWellFormed(key) || await ResolveAsync(key) is not { } resolved)
        {
            ApiMetrics.AuthenticationFailed("api_key");
            return ApiResults.Error(StatusCodes.Status401Unauthorized, "invalid or missing API key");
        }

        http.Items[OrganizationItem] = resolved.OrganizationId;
        new AuditActor(AuditActor.ApiKey, resolved.KeyId).MakeCurrent();
        return await next(context);
    }

    internal static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : null;
    }

    private async ValueTask<ResolvedApiKey?> ResolveAsync(string key)
    {
        var hash = CredentialFormat.Hash(key);
        var now = clock.GetTimestamp();
        if (cache.TryGetValue(hash, out var cached) && cached.ExpiresAt > now)
        {
            return cached.Key;
        }

        var resolved = await grains.GetGrain<IApiKeyGrain>(hash).Resolve();
        if (resolved is null)
        {
            cache.TryRemove(hash, out _);
            return null;
        }

        if (cache.Count > 100_000)
        {
            cache.Clear();
        }

        cache[hash] = (resolved, now + (long)(CacheLifetime.TotalSeconds * clock.TimestampFrequency));
        return resolved;
    }
}
