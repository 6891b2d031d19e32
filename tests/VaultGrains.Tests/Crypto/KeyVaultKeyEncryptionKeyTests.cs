using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using VaultGrains.Grains.Crypto;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Crypto;

/// <summary>The Key Vault adapter against the loopback stand-in: the REST contract, authentication, retries and limits.</summary>
public sealed class KeyVaultKeyEncryptionKeyTests(KeyVaultStandIn standIn) : IClassFixture<KeyVaultStandIn>, IDisposable
{
    private readonly FakeTokenCredential credential = new();

    private static readonly KeyVaultClientSettings Quick = new()
    {
        MaxRetries = 2,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        MaxRetryDelay = TimeSpan.FromMilliseconds(50),
        NetworkTimeout = TimeSpan.FromSeconds(5),
        Timeout = TimeSpan.FromSeconds(10),
    };

    public void Dispose() => standIn.Reset();

    private KeyVaultKeyResolver Resolver(KeyVaultClientSettings? settings = null, string version = KeyVaultStandIn.Version1, IEnumerable<KeyVaultKeyId>? alsoTrusted = null)
    {
        Assert.True(KeyVaultKeyId.TryParse(standIn.KeyId(version), out var keyId));
        return new KeyVaultKeyResolver(keyId, credential, settings ?? Quick, alsoTrusted, standIn.Transport());
    }

    [Fact]
    public async Task Wraps_and_unwraps_with_the_documented_request_shape()
    {
        var kek = Resolver().Current;
        var vaultKey = RandomNumberGenerator.GetBytes(32);

        var wrapped = await kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, vaultKey);
        var unwrapped = await kek.UnwrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, wrapped);

        Assert.Equal(256, wrapped.Length);
        Assert.Equal(vaultKey, unwrapped);
        Assert.Equal(vaultKey, kek.UnwrapKey(KeyVaultKeyEncryptionKey.Algorithm, kek.WrapKey(KeyVaultKeyEncryptionKey.Algorithm, vaultKey)));
        var requests = standIn.Requests.ToArray();
        Assert.Equal(4, requests.Length);
        var wrap = requests[0];
        Assert.Equal($"/keys/{KeyVaultStandIn.KeyName}/{KeyVaultStandIn.Version1}/wrapkey", wrap.Path);
        Assert.Equal($"?api-version={KeyVaultClientSettings.CurrentApiVersion}", wrap.Query);
        Assert.Equal($"Bearer {FakeTokenCredential.DefaultToken}", wrap.Authorization);
        Assert.StartsWith("application/json", wrap.ContentType);
        Assert.Equal("RSA-OAEP-256", wrap.Algorithm);
        Assert.Equal(vaultKey, Base64Url.DecodeFromChars(wrap.Value));
        Assert.DoesNotContain('=', wrap.Value!);
        Assert.EndsWith("/unwrapkey", requests[1].Path);
        Assert.All(credential.Requests, context => Assert.Equal(["https://vault.azure.net/.default"], context.Scopes));
        Assert.Equal(standIn.KeyId(KeyVaultStandIn.Version1), kek.KeyId);
    }

    [Fact]
    public async Task Throttling_is_retried_after_the_Retry_After_the_service_asked_for()
    {
        var kek = Resolver().Current;
        standIn.FailNext(1, 429, retryAfterSeconds: 1);

        var wrapped = await kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[32]);

        Assert.NotEmpty(wrapped);
        var requests = standIn.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        // The configured backoff is 10 ms: only Retry-After explains a second's wait.
        Assert.True(requests[1].At - requests[0].At >= TimeSpan.FromMilliseconds(900), $"retried after {(requests[1].At - requests[0].At).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Server_errors_are_retried_and_a_lasting_outage_is_reported_without_key_bytes()
    {
        var kek = Resolver().Current;
        standIn.FailNext(2, 503);
        Assert.NotEmpty(await kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[32]));
        Assert.Equal(3, standIn.RequestCount);

        standIn.Reset();
        standIn.DownWith = 500;
        var secretKey = RandomNumberGenerator.GetBytes(32);
        var error = await Assert.ThrowsAsync<KeyServiceUnavailableException>(() => kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, secretKey));

        Assert.Equal(3, standIn.RequestCount);
        Assert.Contains(kek.KeyId, error.Message);
        Assert.Contains("500", error.Message);
        Assert.DoesNotContain(Base64Url.EncodeToString(secretKey), error.ToString());
        Assert.DoesNotContain(Convert.ToBase64String(secretKey), error.ToString());
    }

    [Fact]
    public async Task A_slow_service_times_out_within_the_overall_limit()
    {
        var kek = Resolver(Quick with { NetworkTimeout = TimeSpan.FromMilliseconds(300), Timeout = TimeSpan.FromSeconds(1), MaxRetries = 10 }).Current;
        standIn.Delay = TimeSpan.FromSeconds(5);
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<KeyServiceUnavailableException>(() => kek.UnwrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[256]));

        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(3));
        Assert.Contains(kek.KeyId, error.Message);
    }

    [Fact]
    public async Task Dropped_connections_are_reported_as_unavailable()
    {
        var kek = Resolver().Current;
        standIn.DropConnections = true;

        await Assert.ThrowsAsync<KeyServiceUnavailableException>(() => kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[32]));

        Assert.Equal(3, standIn.Requests.Count);
    }

    [Fact]
    public async Task A_request_without_a_valid_bearer_token_gets_a_401_challenge_and_fails_clearly()
    {
        using var raw = standIn.CreateRawClient();
        var anonymous = await raw.PostAsync(standIn.KeyId(KeyVaultStandIn.Version1) + "/wrapkey?api-version=" + KeyVaultClientSettings.CurrentApiVersion,
            new StringContent("""{"alg":"RSA-OAEP-256","value":"AAAA"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.StartsWith("Bearer authorization=", anonymous.Headers.WwwAuthenticate.ToString());

        // A token refused whatever the tenant: one re-authentication for the challenged tenant, then the 401 surfaces.
        standIn.AcceptedToken = "a-token-nobody-has";
        standIn.ChallengeTenant = "standin-tenant";
        var kek = Resolver().Current;
        var firstChallenge = await Assert.ThrowsAsync<KeyServiceUnavailableException>(() => kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[32]));
        var error = await Assert.ThrowsAsync<KeyServiceUnavailableException>(() => kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[32]));

        Assert.Contains("401", error.Message);
        Assert.Contains("401", firstChallenge.Message);
    }

    [Fact]
    public async Task A_challenge_naming_another_tenant_fetches_a_token_for_it_once()
    {
        standIn.ChallengeTenant = "tenant-b";
        standIn.AcceptedToken = "token-for-tenant-b";
        var kek = Resolver().Current;

        var wrapped = await kek.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[32]);
        await kek.UnwrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, wrapped);

        Assert.Equal(1, standIn.Unauthorized);
        Assert.Contains(credential.Requests, context => context.TenantId == "tenant-b" && context.Scopes.SequenceEqual(["https://vault.azure.net/.default"]));
        Assert.Equal(3, standIn.RequestCount);
    }

    [Fact]
    public async Task An_altered_wrapped_key_is_rejected_as_an_integrity_failure_not_an_outage()
    {
        var resolver = Resolver();
        var protector = new VaultKeyProtector(resolver.Current, resolver, KeyVaultKeyEncryptionKey.Algorithm);
        var vaultKey = RandomNumberGenerator.GetBytes(32);
        var wrapped = await protector.WrapAsync(vaultKey, CancellationToken.None);
        var flipped = (byte[])wrapped.Bytes.Clone();
        flipped[100] ^= 0x01;

        await Assert.ThrowsAsync<WrappedKeyRejectedException>(() => protector.UnwrapAsync(wrapped with { Bytes = flipped }, CancellationToken.None));
        await Assert.ThrowsAsync<WrappedKeyRejectedException>(() => protector.UnwrapAsync(wrapped with { Algorithm = "RSA1_5" }, CancellationToken.None));
        Assert.Equal(vaultKey, await protector.UnwrapAsync(wrapped, CancellationToken.None));
    }

    [Fact]
    public async Task The_resolver_calls_only_keys_in_the_configured_vault_or_listed_ones()
    {
        var resolver = Resolver();
        var otherVersion = await resolver.ResolveAsync(standIn.KeyId(KeyVaultStandIn.Version2));
        Assert.NotEmpty(await otherVersion.WrapKeyAsync(KeyVaultKeyEncryptionKey.Algorithm, new byte[32]));
        Assert.Equal(1, standIn.RequestCount);

        const string Foreign = "https://attacker.example/keys/kek/0123456789abcdef0123456789abcdef";
        Assert.Throws<WrappedKeyRejectedException>(() => resolver.Resolve(Foreign));
        Assert.Throws<WrappedKeyRejectedException>(() => resolver.Resolve($"https://127.0.0.1:{standIn.Port}/keys/{KeyVaultStandIn.KeyName}"));
        Assert.Throws<WrappedKeyRejectedException>(() => resolver.Resolve($"http://127.0.0.1:{standIn.Port}/keys/{KeyVaultStandIn.KeyName}/{KeyVaultStandIn.Version2}"));
        Assert.Throws<WrappedKeyRejectedException>(() => resolver.Resolve($"https://127.0.0.1:{standIn.Port + 1}/keys/{KeyVaultStandIn.KeyName}/{KeyVaultStandIn.Version2}"));
        Assert.Throws<WrappedKeyRejectedException>(() => resolver.Resolve(standIn.KeyId(KeyVaultStandIn.Version2) + "/../../secrets/x"));
        Assert.Equal(1, standIn.RequestCount);

        Assert.True(KeyVaultKeyId.TryParse(Foreign, out var listed));
        Assert.Equal(Foreign, Resolver(alsoTrusted: [listed]).Resolve(Foreign).KeyId);
    }
}
