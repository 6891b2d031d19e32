using System.Collections.Concurrent;
using VaultGrains.Domain;
using VaultGrains.Hosting.Audit;

namespace VaultGrains.Api;

/// <summary>
/// Resolves <c>Authorization: Bearer nr_…</c> to the caller's organization. A key's answer (its
/// organization, and whether that organization is switched off) is trusted for at most
/// <see cref="CacheLifetime"/>, so a revoked key or a switched-off organization is refused everywhere
/// within the second API.md promises while a busy client costs a few cluster calls per second, not
/// per request.
/// </summary>
/// <remarks>
/// Failed authentication is made cheap for the service: a key that resolved to nothing is remembered
/// for <see cref="UnknownKeyLifetime"/> (at most <see cref="MaxUnknownKeys"/> of them), and an address
/// that has used up its failures (<see cref="FailedAuthentications"/>) gets 429 for any key this
/// front end has not seen valid, without a lookup. Keys are minted by the server from 32 random bytes
/// and shown only after they are registered, so a key can be unknown and then valid only if someone
/// presented it before it existed: the negative cache cannot hide a freshly created key (this front
/// end also forgets a key it creates, for good measure). Every refusal is counted, with its reason
/// and (for a revoked key or a switched-off organization) whose key it is, for the audit trail's
/// <c>auth.failed</c> summaries.
/// </remarks>
internal sealed class ApiKeyAuthentication(
    IGrainFactory grains,
    TimeProvider clock,
    FailedAuthentications failures,
    FailedAuthenticationSummaries summaries,
    ILogger<ApiKeyAuthentication> logger)
{
    // Below API.md's one second: the answer's age plus the lookup that replaces it (and, under load,
    // the wait for a thread) must fit in that second. At exactly one second a switch-off was measured
    // to take 946 ms and a switch-on 1,013 ms on a busy machine.
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMilliseconds(750);
    public static readonly TimeSpan UnknownKeyLifetime = TimeSpan.FromSeconds(10);
    public const int MaxUnknownKeys = 10_000;
    private const int MaxKnownKeys = 100_000;
    internal const string OrganizationItem = "vaultgrains.organization";

    // Keys seen valid. An entry outlives its answer's second: it marks a key worth a lookup even from
    // an address that is over its failure limit, and gives the key its own request-rate bucket.
    private readonly ConcurrentDictionary<string, KnownKey> known = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, UnknownKey> unknown = new(StringComparer.Ordinal);

    public static string CallerOrganization(HttpContext context) => (string)context.Items[OrganizationItem]!;

    public async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var address = FailedAuthentications.AddressOf(http);
        if (BearerToken(http.Request) is not { } key)
        {
            return Refuse(http, address, FailureReason.Missing);
        }

        if (!Credentials.ApiKey.IsWellFormed(key))
        {
            return Refuse(http, address, FailureReason.Malformed);
        }

        var hash = CredentialFormat.Hash(key);
        var now = clock.GetTimestamp();
        if (!known.ContainsKey(hash))
        {
            if (unknown.TryGetValue(hash, out var remembered) && remembered.ForgetAt > now)
            {
                return RefuseUnknown(http, address, remembered.Revoked);
            }

            if (failures.Blocked(address) is { } refusal)
            {
                using (refusal)
                {
                    ApiMetrics.AuthenticationFailed("api_key");
                    summaries.Record(address, FailedCredential.ApiKey, FailureReason.NotLookedUp, rateLimited: true);
                    return TooMany(http, refusal);
                }
            }
        }

        var (resolved, revoked) = await ResolveAsync(hash, now);
        if (resolved is null)
        {
            return RefuseUnknown(http, address, revoked);
        }

        if (resolved.Value.OrganizationDisabled)
        {
            // A known key of a switched-off organization: not a guess, so not counted against the address.
            return Refuse(http, address, FailureReason.OrganizationDisabled, resolved.Value.Key, counted: false);
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

    /// <summary>The key when it is active (from the cache while its answer is fresh); else whose it was when it is revoked.</summary>
    private async ValueTask<(KnownKey? Active, ResolvedApiKey? Revoked)> ResolveAsync(string hash, long now)
    {
        if (known.TryGetValue(hash, out var cached) && cached.FreshUntil > now)
        {
            return (cached, null);
        }

        var standing = await grains.ReferenceTo<IApiKeyGrain>(hash).Standing();
        if (standing is null or { Revoked: true })
        {
            known.TryRemove(hash, out _);
            if (unknown.Count >= MaxUnknownKeys)
            {
                // Bounded: under a flood of random keys the cache restarts rather than grows.
                unknown.Clear();
            }

            var revoked = standing?.Key;
            unknown[hash] = new UnknownKey(now + Ticks(UnknownKeyLifetime), revoked);
            return (null, revoked);
        }

        var disabled = await grains.ReferenceTo<IOrganizationGrain>(standing.Key.OrganizationId).IsDisabled();
        if (known.Count >= MaxKnownKeys)
        {
            known.Clear();
        }

        var entry = new KnownKey(standing.Key, disabled, now + Ticks(CacheLifetime));
        known[hash] = entry;
        return (entry, null);
    }

    private IResult RefuseUnknown(HttpContext http, string address, ResolvedApiKey? revoked) =>
        revoked is null ? Refuse(http, address, FailureReason.Unknown) : Refuse(http, address, FailureReason.Revoked, revoked);

    /// <param name="owner">Whose key it is, when it resolved: the failure is summarized in that organization's trail.</param>
    /// <param name="counted">Against the address's failed-authentication limit (a guess is; a known key is not).</param>
    private IResult Refuse(HttpContext http, string address, FailureReason reason, ResolvedApiKey? owner = null, bool counted = true)
    {
        ApiMetrics.AuthenticationFailed("api_key");
        var refusal = counted ? failures.Record(address) : null;
        summaries.Record(address, FailedCredential.ApiKey, reason, rateLimited: refusal is not null, owner?.OrganizationId, owner?.KeyId);
        if (refusal is not null)
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

    /// <summary>A key that did not resolve, remembered until <see cref="ForgetAt"/>; whose it was when it is revoked.</summary>
    private readonly record struct UnknownKey(long ForgetAt, ResolvedApiKey? Revoked);
}
