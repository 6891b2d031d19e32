using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using VaultGrains.Domain;
using VaultGrains.Hosting.Audit;

namespace VaultGrains.Api;

/// <summary>Rate limits of the public API (section <c>Limits</c>).</summary>
public sealed class LimitsOptions
{
    public const string Section = "Limits";

    /// <summary>
    /// Requests per second one API key may send to one API front end. The default is far above what one
    /// client reaches here (the benchmarks peak near 8,000 requests/s for the whole service), so only a
    /// runaway or abusive client meets it.
    /// </summary>
    public int RequestsPerSecondPerKey { get; set; } = 50_000;

    /// <summary>Failed authentications one client address may cause per <see cref="FailedAuthenticationWindow"/> (API.md: 20).</summary>
    public int FailedAuthenticationsPerAddress { get; set; } = 20;

    /// <summary>The window of <see cref="FailedAuthenticationsPerAddress"/> (API.md: 10 seconds).</summary>
    public TimeSpan FailedAuthenticationWindow { get; set; } = TimeSpan.FromSeconds(10);
}

internal sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        var failures = new List<string>();
        if (options.RequestsPerSecondPerKey is < 1 or > 10_000_000)
        {
            failures.Add("Limits:RequestsPerSecondPerKey must be between 1 and 10000000.");
        }

        if (options.FailedAuthenticationsPerAddress is < 1 or > 1_000_000)
        {
            failures.Add("Limits:FailedAuthenticationsPerAddress must be between 1 and 1000000.");
        }

        if (options.FailedAuthenticationWindow < TimeSpan.FromSeconds(1) || options.FailedAuthenticationWindow > TimeSpan.FromHours(1))
        {
            failures.Add("Limits:FailedAuthenticationWindow must be between 00:00:01 and 01:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// The public API's limits, on ASP.NET Core's rate limiting: a per-key request rate (the middleware,
/// policy <see cref="PerKeyPolicy"/>), and a limit on failed authentications per client address
/// (<see cref="FailedAuthentications"/>, consulted by <see cref="ApiKeyAuthentication"/>, which alone
/// knows whether a key failed).
/// </summary>
internal static class RequestLimits
{
    public const string PerKeyPolicy = "per-api-key";
    public const string TooManyRequests = "too many requests";

    public static WebApplicationBuilder AddVaultRequestLimits(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<IValidateOptions<LimitsOptions>, LimitsOptionsValidator>();
        services.AddOptions<LimitsOptions>().Bind(builder.Configuration.GetSection(LimitsOptions.Section)).ValidateOnStart();
        services.AddSingleton<FailedAuthentications>();
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = (context, _) => WriteTooManyAsync(context.HttpContext, context.Lease);
            limiter.AddPolicy(PerKeyPolicy, PerKeyPartition);
        });
        return builder;
    }

    /// <summary>The per-key rate on every endpoint of <paramref name="group"/>, and its 429 in the OpenAPI document.</summary>
    public static RouteGroupBuilder RequireVaultRequestLimits(this RouteGroupBuilder group)
    {
        group.RequireRateLimiting(PerKeyPolicy);
        group.WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status429TooManyRequests, typeof(ErrorBody), ["application/json"]));
        return group;
    }

    /// <summary>Answers 429 with <c>Retry-After</c> (whole seconds, at least 1) from the refused lease.</summary>
    public static ValueTask WriteTooManyAsync(HttpContext http, RateLimitLease lease)
    {
        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return new(ApiResults.Error(StatusCodes.Status429TooManyRequests, TooManyRequests).ExecuteAsync(http));
    }

    // Only keys this front end has seen valid get a bucket: unknown keys would otherwise make one
    // partition each, and they are the failed-authentication limit's business.
    private static RateLimitPartition<string> PerKeyPartition(HttpContext http)
    {
        var authentication = http.RequestServices.GetRequiredService<ApiKeyAuthentication>();
        if (ApiKeyAuthentication.BearerToken(http.Request) is not { } key || !Credentials.ApiKey.IsWellFormed(key)
            || authentication.KnownKeyHash(key) is not { } hash)
        {
            return RateLimitPartition.GetNoLimiter("");
        }

        var perSecond = http.RequestServices.GetRequiredService<IOptions<LimitsOptions>>().Value.RequestsPerSecondPerKey;
        return RateLimitPartition.GetTokenBucketLimiter(hash, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }
}

/// <summary>
/// Failed authentications per client address, on a fixed-window limiter per address: once an address
/// has used up its failures in the window, its further unknown keys are answered 429 without any lookup.
/// IPv6 addresses count per /64, which is what one client usually holds.
/// </summary>
internal sealed class FailedAuthentications : IDisposable
{
    private readonly PartitionedRateLimiter<string> limiter;

    public FailedAuthentications(IOptions<LimitsOptions> options)
    {
        var limits = options.Value;
        limiter = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = limits.FailedAuthenticationsPerAddress,
            Window = limits.FailedAuthenticationWindow,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    public static string AddressOf(HttpContext http) => ClientAddress.Of(http.Connection.RemoteIpAddress);

    /// <summary>A refusal (with its <c>Retry-After</c>) when the address has no failures left in this window, else null.</summary>
    public RateLimitLease? Blocked(string address)
    {
        var lease = limiter.AttemptAcquire(address, 0);
        if (lease.IsAcquired)
        {
            lease.Dispose();
            return null;
        }

        return lease;
    }

    /// <summary>Counts one failure; a refusal when it was one too many (concurrent failures at the edge).</summary>
    public RateLimitLease? Record(string address)
    {
        var lease = limiter.AttemptAcquire(address, 1);
        if (lease.IsAcquired)
        {
            lease.Dispose();
            return null;
        }

        return lease;
    }

    public void Dispose() => limiter.Dispose();
}
