using System.Collections.Concurrent;
using VaultGrains.Domain;

namespace VaultGrains.Api;

/// <summary>
/// Resolves <c>Authorization: Bearer nr_…</c> to the caller's organization. A key's answer (its
/// organization, and whether that organization is switched off) is trusted for at most one second,
/// so a revoked key or a switched-off organization is refused everywhere within that second while a
/// busy client costs two cluster calls per second, not per request.
/// </summary>
/// <remarks>
/// Failed authentication is made cheap for the service: a key that resolved to nothing is remembered
/// for <see cref="UnknownKeyLifetime"/> (at most <see cref="MaxUnknownKeys"/> of them), and an address
/// that has used up its failures (<see cref="FailedAuthentications"/>) gets 429 for any key this
/// front end has not seen valid, without a lookup. Keys are minted by the server from 32 random bytes
/// and shown only after they are registered, so a key can be unknown and then valid only if someone
/// presented it before it existed: the negative cache cannot hide a freshly created key (this front
/// end also forgets a key it creates, for good measure).
/// </remarks>
internal sealed class ApiKeyAuthentication(IGrainFactory grains, TimeProvider clock, FailedAuthentications failures, ILogger<ApiKeyAuthentication> logger)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan UnknownKeyLifetime = TimeSpan.FromSeconds(10);
    public const int MaxUnknownKeys = 10_000;
    private const int MaxKnownKeys = 100_000;
    internal const string OrganizationItem = "vaultgrains.organization";

    // Keys seen valid. An entry outlives its answer's second: it marks a key worth a lookup even from
    // an address that is over its failure limit, and gives the key its own request-rate bucket.
    private readonly ConcurrentDictionary<string, KnownKey> known = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> unknown = new(StringComparer.Ordinal);

    public static string CallerOrganization(HttpContext context) => (string)context.Items[OrganizationItem]!;

    public async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var address = FailedAuthentications.AddressOf(http);
        if (BearerToken(http.Request) is not { } key || !Credentials.ApiKey.IsWellFormed(key))
        {
            return Refuse(http, address, counted: true);
        }

        var hash = CredentialFormat.Hash(key);
        var now = clock.GetTimestamp();
        if (!known.ContainsKey(hash))
        {
            if (unknown.TryGetValue(hash, out var forgetAt) && forgetAt > now)
            {
                return Refuse(http, address, counted: true);
            }

            if (failures.Blocked(address) is { } refusal)
            {
                using (refusal)
                {
                    ApiMetrics.AuthenticationFailed("api_key");
                    return TooMany(http, refusal);
                }
            }
        }

        var resolved = await ResolveAsync(hash, now);
        if (resolved is null)
        {
            return Refuse(http, address, counted: true);
        }

        if (resolved.Value.OrganizationDisabled)
        {
            // A known key of a switched-off organization: not a guess, so not counted against the address.
            return Refuse(http, address, counted: false);
        }

        http.Items[OrganizationItem] = resolved.Value.Key.OrganizationId;
        new AuditActor(AuditActor.ApiKey, resolved.Value.Key.KeyId).MakeCurrent();
        return await next(context);
    }

    internal static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : null;
    }

    /// <summary>The hash of <paramref name="key"/> when this front end has seen the key valid, else null.</summary>
    internal string? KnownKeyHash(string key)
    {
        var hash = CredentialFormat.Hash(key);
        return known.ContainsKey(hash) ? hash : null;
    }

    /// <summary>A key this front end just created: never answer it from the negative cache.</summary>
    internal void Created(string keyHash) => unknown.TryRemove(keyHash, out _);

    private async ValueTask<KnownKey?> ResolveAsync(string hash, long now)
    {
        if (known.TryGetValue(hash, out var cached) && cached.FreshUntil > now)
        {
            return cached;
        }

        var resolved = await grains.GetGrain<IApiKeyGrain>(hash).Resolve();
        if (resolved is null)
        {
            known.TryRemove(hash, out _);
            if (unknown.Count >= MaxUnknownKeys)
            {
                // Bounded: under a flood of random keys the cache restarts rather than grows.
                unknown.Clear();
            }

            unknown[hash] = now + Ticks(UnknownKeyLifetime);
            return null;
        }

        var disabled = await grains.GetGrain<IOrganizationGrain>(resolved.OrganizationId).IsDisabled();
        if (known.Count >= MaxKnownKeys)
        {
            known.Clear();
        }

        var entry = new KnownKey(resolved, disabled, now + Ticks(CacheLifetime));
        known[hash] = entry;
        return entry;
    }

    private IResult Refuse(HttpContext http, string address, bool counted)
    {
        ApiMetrics.AuthenticationFailed("api_key");
        if (counted && failures.Record(address) is { } refusal)
        {
            using (refusal)
            {
                return TooMany(http, refusal);
            }
        }

        return ApiResults.Error(StatusCodes.Status401Unauthorized, "invalid or missing API key");
    }

    private IResult TooMany(HttpContext http, System.Threading.RateLimiting.RateLimitLease refusal)
    {
        logger.LogDebug("Authentication refused with 429: the client address is over its failed-authentication limit");
        var retryAfter = refusal.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return ApiResults.Error(StatusCodes.Status429TooManyRequests, RequestLimits.TooManyRequests);
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * clock.TimestampFrequency);

    private readonly record struct KnownKey(ResolvedApiKey Key, bool OrganizationDisabled, long FreshUntil);
}
