using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Text.Json;
using Azure;
using Azure.Core;
using Azure.Core.Cryptography;
using Azure.Core.Pipeline;

namespace VaultGrains.Grains.Crypto;

/// <summary>How the Key Vault adapter talks to the service: token scope, API version, retries and time limits.</summary>
public sealed record KeyVaultClientSettings
{
    public const string VaultScope = "https://vault.azure.net/.default";

    /// <summary>The newest generally available Key Vault data-plane version (the default of the .NET CryptographyClient).</summary>
    public const string CurrentApiVersion = "2025-07-01";

    public string Scope { get; init; } = VaultScope;

    public string ApiVersion { get; init; } = CurrentApiVersion;

    /// <summary>Retries after the first try, for 408, 429, 500, 502, 503, 504 and network errors.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>First backoff of the exponential retry; a longer <c>Retry-After</c> from the service wins.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Limit of one try.</summary>
    public TimeSpan NetworkTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Limit of one operation, all tries and waits included: below Orleans' 30 s call timeout.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// Resolves versioned Key Vault key ids to <see cref="KeyVaultKeyEncryptionKey"/>s sharing one HTTP
/// pipeline. Only keys in the configured key's vault, or listed explicitly, are resolved: a key id
/// read from (possibly tampered) storage must never make this service send a token to another host.
/// </summary>
public sealed class KeyVaultKeyResolver : IKeyEncryptionKeyResolver
{
    private readonly HttpPipeline pipeline;
    private readonly KeyVaultClientSettings settings;
    private readonly HashSet<string> alsoTrusted;
    private readonly ConcurrentDictionary<string, KeyVaultKeyEncryptionKey> keys = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="current">The key new vault keys are wrapped with.</param>
    /// <param name="credential">Source of the bearer tokens (DefaultAzureCredential in production).</param>
    /// <param name="alsoTrusted">Older keys in other vaults that may still unwrap (moving to a new vault).</param>
    /// <param name="transport">The HTTP transport; tests pass one that trusts their stand-in's certificate.</param>
    public KeyVaultKeyResolver(
        KeyVaultKeyId current,
        TokenCredential credential,
        KeyVaultClientSettings? settings = null,
        IEnumerable<KeyVaultKeyId>? alsoTrusted = null,
        HttpPipelineTransport? transport = null)
    {
        this.settings = settings ?? new KeyVaultClientSettings();
        this.alsoTrusted = (alsoTrusted ?? []).Select(k => k.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var options = new PipelineOptions();
        if (transport is not null)
        {
            options.Transport = transport;
        }

        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = this.settings.MaxRetries;
        options.Retry.Delay = this.settings.RetryDelay;
        options.Retry.MaxDelay = this.settings.MaxRetryDelay;
        options.Retry.NetworkTimeout = this.settings.NetworkTimeout;
        options.Diagnostics.IsLoggingContentEnabled = false;
        options.Diagnostics.IsDistributedTracingEnabled = false;
        pipeline = HttpPipelineBuilder.Build(options, [], [new KeyVaultTokenPolicy(credential, this.settings.Scope)], new ResponseClassifier());
        Current = Key(current);
    }

    public KeyVaultKeyEncryptionKey Current { get; }

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default)
    {
        if (!KeyVaultKeyId.TryParse(keyId, out var parsed))
        {
            throw new WrappedKeyRejectedException($"Stored key id \"{keyId}\" is not a versioned Key Vault key id.");
        }

        if (!parsed.IsInVaultOf(Current.Id) && !alsoTrusted.Contains(parsed.Id))
        {
            throw new WrappedKeyRejectedException($"Stored key id {parsed} is not in the configured vault {Current.Id.Vault} nor listed as trusted; not calling it.");
        }

        return Key(parsed);
    }

    public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Resolve(keyId, cancellationToken));

    private KeyVaultKeyEncryptionKey Key(KeyVaultKeyId id) => keys.GetOrAdd(id.Id, _ => new KeyVaultKeyEncryptionKey(id, pipeline, settings));

    private sealed class PipelineOptions : ClientOptions;
}

/// <summary>
/// An RSA key in Azure Key Vault used through its REST API (<c>POST {kid}/wrapkey</c> and
/// <c>/unwrapkey</c> with RSA-OAEP-256). The same contract as the SDK's <c>CryptographyClient</c>,
/// which can replace it. Every failure surfaces as <see cref="KeyServiceUnavailableException"/>
/// (retryable) or, for an unwrap the service refuses as malformed, <see cref="WrappedKeyRejectedException"/>.
/// </summary>
public sealed class KeyVaultKeyEncryptionKey : IKeyEncryptionKey
{
    public const string Algorithm = "RSA-OAEP-256";
    private readonly HttpPipeline pipeline;
    private readonly KeyVaultClientSettings settings;

    internal KeyVaultKeyEncryptionKey(KeyVaultKeyId id, HttpPipeline pipeline, KeyVaultClientSettings settings)
    {
        Id = id;
        this.pipeline = pipeline;
        this.settings = settings;
    }

    public KeyVaultKeyId Id { get; }

    public string KeyId => Id.Id;

    public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
        SendAsync("wrapkey", algorithm, key, async: false, cancellationToken).EnsureCompleted();

    public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
        SendAsync("wrapkey", algorithm, key, async: true, cancellationToken).AsTask();

    public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) =>
        SendAsync("unwrapkey", algorithm, encryptedKey, async: false, cancellationToken).EnsureCompleted();

    public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) =>
        SendAsync("unwrapkey", algorithm, encryptedKey, async: true, cancellationToken).AsTask();

    private async ValueTask<byte[]> SendAsync(string operation, string algorithm, ReadOnlyMemory<byte> value, bool async, CancellationToken cancellationToken)
    {
        using var activity = KeyVaultTelemetry.Source.StartActivity($"KeyVault {operation}", System.Diagnostics.ActivityKind.Client);
        activity?.SetTag("server.address", Id.Vault.Host);
        activity?.SetTag("vaultgrains.keyvault.operation", operation);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Exception? failure = null;
        try
        {
            return await SendOnceAsync(operation, algorithm, value, async, cancellationToken);
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            var outcome = KeyVaultTelemetry.Outcome(failure, cancellationToken.IsCancellationRequested);
            KeyVaultTelemetry.Duration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("outcome", outcome));
            activity?.SetTag("vaultgrains.keyvault.outcome", outcome);
            if (failure is not null)
            {
                activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, outcome);
            }
        }
    }

    private async ValueTask<byte[]> SendOnceAsync(string operation, string algorithm, ReadOnlyMemory<byte> value, bool async, CancellationToken cancellationToken)
    {
        if (algorithm != Algorithm)
        {
            // A stored algorithm is not trusted input: RSA1_5 would invite a padding oracle.
            throw new WrappedKeyRejectedException($"Key {KeyId} is used only with {Algorithm}, not \"{algorithm}\".");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(settings.Timeout);
        using var message = pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Post;
        message.Request.Uri.Reset(new Uri($"{KeyId}/{operation}?api-version={Uri.EscapeDataString(settings.ApiVersion)}"));
        message.Request.Headers.Add("Content-Type", "application/json");
        message.Request.Content = RequestContent.Create(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["alg"] = algorithm,
            ["value"] = Base64Url.EncodeToString(value.Span),
        }));
        try
        {
            if (async)
            {
                await pipeline.SendAsync(message, deadline.Token);
            }
            else
            {
                pipeline.Send(message, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException e)
        {
            throw new KeyServiceUnavailableException($"Key Vault {operation} with key {KeyId} timed out after {settings.Timeout.TotalSeconds:0.#} s.", e);
        }
        catch (Exception e)
        {
            throw new KeyServiceUnavailableException($"Key Vault {operation} with key {KeyId} failed: {e.GetType().Name}.", e);
        }

        var response = message.Response;
        if (response.Status == 200 && ReadValue(response) is { } result)
        {
            return result;
        }

        var failure = $"Key Vault {operation} with key {KeyId} failed: {response.Status} {ErrorCode(response)}".TrimEnd() + ".";
        if (response.Status == 200)
        {
            throw new KeyServiceUnavailableException($"Key Vault {operation} with key {KeyId} answered without a base64url value.");
        }

        // Key Vault answers 400 BadParameter when the bytes are not a valid OAEP ciphertext for this key.
        throw response.Status == 400 && operation == "unwrapkey"
            ? new WrappedKeyRejectedException(failure)
            : new KeyServiceUnavailableException(failure);
    }

    private static byte[]? ReadValue(Response response)
    {
        try
        {
            using var body = JsonDocument.Parse(response.Content);
            return body.RootElement.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String
                ? Base64Url.DecodeFromChars(value.GetString())
                : null;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    // Only the service's error code (a fixed identifier such as "BadParameter"), never its free text.
    private static string ErrorCode(Response response)
    {
        try
        {
            using var body = JsonDocument.Parse(response.Content);
            return body.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                && error.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
                && code.GetString() is { Length: <= 64 } text && text.All(char.IsAsciiLetterOrDigit)
                    ? text
                    : response.ReasonPhrase;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return response.ReasonPhrase;
        }
    }
}

/// <summary>
/// Bearer tokens for Key Vault. The token is sent up front; when Key Vault answers 401 with a
/// challenge naming another tenant (a key in a vault of another tenant), the token is fetched again
/// for that tenant, the request retried once, and the tenant remembered. The scope stays the
/// configured one: a challenge can never widen what the token is good for.
/// </summary>
internal sealed class KeyVaultTokenPolicy(TokenCredential credential, string scope) : BearerTokenAuthenticationPolicy(credential, scope)
{
    private readonly string[] scopes = [scope];
    private volatile string? tenantId;

    protected override ValueTask AuthorizeRequestAsync(HttpMessage message) =>
        tenantId is { } tenant ? AuthenticateAndAuthorizeRequestAsync(message, Context(message, tenant)) : base.AuthorizeRequestAsync(message);

    protected override void AuthorizeRequest(HttpMessage message)
    {
        if (tenantId is { } tenant)
        {
            AuthenticateAndAuthorizeRequest(message, Context(message, tenant));
        }
        else
        {
            base.AuthorizeRequest(message);
        }
    }

    protected override async ValueTask<bool> AuthorizeRequestOnChallengeAsync(HttpMessage message)
    {
        if (await base.AuthorizeRequestOnChallengeAsync(message))
        {
            return true;
        }

        if (ChallengedTenant(message) is not { } tenant || tenant == tenantId)
        {
            return false;
        }

        tenantId = tenant;
        await AuthenticateAndAuthorizeRequestAsync(message, Context(message, tenant));
        return true;
    }

    protected override bool AuthorizeRequestOnChallenge(HttpMessage message)
    {
        if (base.AuthorizeRequestOnChallenge(message))
        {
            return true;
        }

        if (ChallengedTenant(message) is not { } tenant || tenant == tenantId)
        {
            return false;
        }

        tenantId = tenant;
        AuthenticateAndAuthorizeRequest(message, Context(message, tenant));
        return true;
    }

    private TokenRequestContext Context(HttpMessage message, string tenant) =>
        new(scopes, message.Request.ClientRequestId, tenantId: tenant);

    /// <summary>The tenant in <c>WWW-Authenticate: Bearer authorization="https://login…/{tenant}"</c>.</summary>
    internal static string? ChallengedTenant(HttpMessage message)
    {
        if (!message.HasResponse || !message.Response.Headers.TryGetValue("WWW-Authenticate", out var challenge))
        {
            return null;
        }

        foreach (var part in challenge.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=');
            if (equals <= 0)
            {
                continue;
            }

            var name = part[..equals];
            if ((name.Equals("authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("authorization_uri", StringComparison.OrdinalIgnoreCase))
                && Uri.TryCreate(part[(equals + 1)..].Trim('"'), UriKind.Absolute, out var authority)
                && authority.Segments is [_, var tenant, ..]
                && tenant.TrimEnd('/') is { Length: > 0 and <= 64 } id
                && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
            {
                return id;
            }
        }

        return null;
    }
}

internal static class ValueTaskExtensions
{
    /// <summary>The result of a value task that ran synchronously (the <c>async: false</c> path).</summary>
    public static T EnsureCompleted<T>(this ValueTask<T> task) =>
        task.IsCompleted ? task.GetAwaiter().GetResult() : throw new InvalidOperationException("A synchronous Key Vault call did not complete synchronously.");
}
