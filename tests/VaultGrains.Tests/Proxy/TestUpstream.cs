using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Proxy;

/// <summary>One request as the upstream received it.</summary>
public sealed record UpstreamRequest(string Host, string Method, string Target, string Protocol, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>
/// A real upstream: Kestrel on loopback with HTTPS (HTTP/1.1 and HTTP/2, certificate for every test
/// name from its own CA) and plain HTTP, recording every request. <c>/redirect…</c> redirects to
/// another host, <c>/chunked…</c> echoes the request headers in a chunked body, anything else echoes
/// them in <c>X-Echo-*</c> response headers and a plain body.
/// </summary>
public sealed class TestUpstream : IAsyncDisposable
{
    public static readonly string[] Names =
        ["api.example.test", "other.example.test", "example.test", "evilexample.test", "example.test.evil.test", "allowed.test"];

    private readonly ConcurrentQueue<UpstreamRequest> requests = new();
    private WebApplication? app;

    public X509Certificate2 Authority { get; } = TestCertificates.CreateAuthority("VaultGrains test upstream CA");

    public X509Certificate2 Certificate { get; private set; } = null!;

    public string AuthorityPemFile { get; private set; } = "";

    public int HttpsPort { get; private set; }

    public int HttpPort { get; private set; }

    public IReadOnlyCollection<UpstreamRequest> Requests => requests;

    /// <summary>The requests whose target contains <paramref name="marker"/> (each test uses its own).</summary>
    public List<UpstreamRequest> RequestsWith(string marker) => requests.Where(r => r.Target.Contains(marker, StringComparison.Ordinal)).ToList();

    public async Task StartAsync()
    {
        Certificate = TestCertificates.CreateServer(Authority, Names);
        AuthorityPemFile = TestCertificates.WritePem(Authority);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(Certificate);
            });
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
        });
        app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync();
        var urls = app.Urls.Select(url => new Uri(url)).ToList();
        HttpsPort = urls.Single(url => url.Scheme == "https").Port;
        HttpPort = urls.Single(url => url.Scheme == "http").Port;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var target = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        requests.Enqueue(new UpstreamRequest(request.Host.Value ?? "", request.Method, target, request.Protocol, headers));

        if (request.Path.StartsWithSegments("/redirect"))
        {
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = $"https://other.example.test:{HttpsPort}/landed{request.Path}";
            return;
        }

        var echo = new StringBuilder().Append("target: ").Append(target).Append('\n');
        foreach (var (name, value) in headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            echo.Append(name).Append(": ").Append(value).Append('\n');
            if (!name.StartsWith(':'))
            {
                context.Response.Headers["X-Echo-" + name] = value;
            }
        }

        var body = Encoding.UTF8.GetBytes(echo.ToString());
        context.Response.ContentType = "text/plain";
        if (request.Path.StartsWithSegments("/chunked"))
        {
            // Three writes with flushes, and a split inside the body, so a value can straddle chunks.
            var third = body.Length / 3;
            await context.Response.Body.WriteAsync(body.AsMemory(0, third));
            await context.Response.Body.FlushAsync();
            await context.Response.Body.WriteAsync(body.AsMemory(third, third));
            await context.Response.Body.FlushAsync();
            await context.Response.Body.WriteAsync(body.AsMemory(2 * third));
            return;
        }

        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body);
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
