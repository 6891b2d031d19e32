using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Core;
using Azure.Core.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// A stand-in for the Azure Key Vault keys REST API on loopback HTTPS (self-signed certificate):
/// <c>POST /keys/{name}/{version}/wrapkey|unwrapkey?api-version=…</c> with real RSA-OAEP-256 keys,
/// two versions of one key. It checks what Key Vault checks (bearer token, api-version, JSON body,
/// algorithm, base64url) and can be told to fail the way Key Vault fails: 401 challenge, 429 with
/// <c>Retry-After</c>, 5xx, slow answers, dropped connections.
/// </summary>
public sealed partial class KeyVaultStandIn : IAsyncDisposable, IAsyncLifetime
{
    public const string KeyName = "vaultgrains-kek";
    public const string Version1 = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    public const string Version2 = "f9e8d7c6b5a4938271605f4e3d2c1b0a";
    private readonly Dictionary<string, RSA> keys = new() { [Version1] = RSA.Create(2048), [Version2] = RSA.Create(2048) };
    private readonly ConcurrentDictionary<string, int> unwrapsByVersion = new();
    private readonly X509Certificate2 certificate = CreateCertificate();
    private WebApplication? app;
    private int failuresLeft;
    private int failStatus;
    private int? failRetryAfter;
    private int wraps;
    private int unwraps;
    private int requestCount;
    private int unauthorized;

    public int Port { get; private set; }

    /// <summary>The one token accepted; anything else (or none) gets a 401 challenge.</summary>
    public string AcceptedToken { get; set; } = FakeTokenCredential.DefaultToken;

    /// <summary>The tenant named in the 401 challenge.</summary>
    public string ChallengeTenant { get; set; } = "standin-tenant";

    /// <summary>Every request answers this status (503 by default) while set: Key Vault is down.</summary>
    public int? DownWith { get; set; }

    public TimeSpan Delay { get; set; }

    public bool DropConnections { get; set; }

    public int Wraps => wraps;

    public int Unwraps => unwraps;

    public int RequestCount => requestCount;

    public int Unauthorized => unauthorized;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public int UnwrapsWith(string version) => unwrapsByVersion.GetValueOrDefault(version);

    public string KeyId(string version) => $"https://127.0.0.1:{Port}/keys/{KeyName}/{version}";

    /// <summary>The next <paramref name="count"/> requests answer <paramref name="status"/>, with <c>Retry-After</c> if given.</summary>
    public void FailNext(int count, int status, int? retryAfterSeconds = null)
    {
        failStatus = status;
        failRetryAfter = retryAfterSeconds;
        Interlocked.Exchange(ref failuresLeft, count);
    }

    /// <summary>Back to a healthy service with zeroed counters.</summary>
    public void Reset()
    {
        DownWith = null;
        Delay = TimeSpan.Zero;
        DropConnections = false;
        AcceptedToken = FakeTokenCredential.DefaultToken;
        Interlocked.Exchange(ref failuresLeft, 0);
        Interlocked.Exchange(ref wraps, 0);
        Interlocked.Exchange(ref unwraps, 0);
        Interlocked.Exchange(ref requestCount, 0);
        Interlocked.Exchange(ref unauthorized, 0);
        unwrapsByVersion.Clear();
        Requests.Clear();
    }

    /// <summary>An Azure.Core transport that trusts exactly this stand-in's certificate.</summary>
    public HttpPipelineTransport Transport() => new HttpClientTransport(new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == certificate.Thumbprint,
    });

    public HttpClient CreateRawClient() => new(new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == certificate.Thumbprint,
    });

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        app = builder.Build();
        app.MapPost("/keys/{name}/{version}/{operation}", HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(address).Port;
    }

    public async Task DisposeAsync()
    {
        if (app is not null)
        {
            await app.DisposeAsync();
        }

        foreach (var key in keys.Values)
        {
            key.Dispose();
        }
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

    private async Task HandleAsync(HttpContext context, string name, string version, string operation)
    {
        Interlocked.Increment(ref requestCount);
        var request = context.Request;
        var recorded = new RecordedRequest(DateTime.UtcNow, request.Path, request.QueryString.Value ?? "", request.Headers.Authorization.ToString(), request.ContentType, null, null);
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay, context.RequestAborted);
        }

        if (DropConnections)
        {
            Requests.Enqueue(recorded);
            context.Abort();
            return;
        }

        if (request.Headers.Authorization.ToString() != $"Bearer {AcceptedToken}")
        {
            Requests.Enqueue(recorded);
            Interlocked.Increment(ref unauthorized);
            context.Response.Headers.WWWAuthenticate = $"Bearer authorization=\"https://login.microsoftonline.com/{ChallengeTenant}\", resource=\"https://vault.azure.net\"";
            await Error(context, 401, "Unauthorized");
            return;
        }

        var failWith = DownWith ?? (Interlocked.Decrement(ref failuresLeft) >= 0 ? failStatus : null);
        if (failWith is { } down)
        {
            Requests.Enqueue(recorded);
            if (DownWith is null && failRetryAfter is { } seconds)
            {
                context.Response.Headers.RetryAfter = seconds.ToString();
            }

            await Error(context, down, down == 429 ? "Throttled" : "ServiceUnavailable");
            return;
        }

        if (request.Query["api-version"] != KeyVaultClientSettings.CurrentApiVersion)
        {
            Requests.Enqueue(recorded);
            await Error(context, 400, "BadParameter");
            return;
        }

        if (name != KeyName || !keys.TryGetValue(version, out var key) || operation is not ("wrapkey" or "unwrapkey"))
        {
            Requests.Enqueue(recorded);
            await Error(context, 404, "KeyNotFound");
            return;
        }

        string? alg = null, value = null;
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: context.RequestAborted);
            alg = body.RootElement.GetProperty("alg").GetString();
            value = body.RootElement.GetProperty("value").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
        }

        Requests.Enqueue(recorded with { Algorithm = alg, Value = value });
        if (request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) != true || alg != "RSA-OAEP-256"
            || value is null || !Base64UrlShape().IsMatch(value))
        {
            await Error(context, 400, "BadParameter");
            return;
        }

        byte[] result;
        try
        {
            var input = Base64Url.DecodeFromChars(value);
            result = operation == "wrapkey"
                ? key.Encrypt(input, RSAEncryptionPadding.OaepSHA256)
                : key.Decrypt(input, RSAEncryptionPadding.OaepSHA256);
        }
        catch (CryptographicException)
        {
            // What Key Vault answers for a ciphertext that is not valid under the key.
            await Error(context, 400, "BadParameter");
            return;
        }

        if (operation == "wrapkey")
        {
            Interlocked.Increment(ref wraps);
        }
        else
        {
            Interlocked.Increment(ref unwraps);
            unwrapsByVersion.AddOrUpdate(version, 1, (_, n) => n + 1);
        }

        await context.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["kid"] = KeyId(version), ["value"] = Base64Url.EncodeToString(result) });
    }

    private static Task Error(HttpContext context, int status, string code)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { error = new { code, message = $"stand-in: {code}" } });
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }

    // base64url without padding, as Key Vault requires.
    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex Base64UrlShape();
}

/// <summary>One request the stand-in received.</summary>
public sealed record RecordedRequest(DateTime At, string Path, string Query, string Authorization, string? ContentType, string? Algorithm, string? Value);

/// <summary>Hands out fixed tokens: <see cref="DefaultToken"/>, or <c>token-for-{tenant}</c> when a tenant is asked for.</summary>
public sealed class FakeTokenCredential : TokenCredential
{
    public const string DefaultToken = "stand-in-token";

    public ConcurrentQueue<TokenRequestContext> Requests { get; } = new();

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Requests.Enqueue(requestContext);
        var token = requestContext.TenantId is { } tenant ? $"token-for-{tenant}" : DefaultToken;
        return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        new(GetToken(requestContext, cancellationToken));
}
