using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using VaultGrains.Bench.Upstream;

// Settings: BENCH_UPSTREAM_PORT (loopback port), BENCH_UPSTREAM_HOST (the certificate's name),
// BENCH_UPSTREAM_CA_FILE (where the CA's PEM is written for the proxy), BENCH_PROXY_SECRET (the
// value whose arrival is counted; never printed).
var port = int.Parse(Required("BENCH_UPSTREAM_PORT"), System.Globalization.CultureInfo.InvariantCulture);
var host = Environment.GetEnvironmentVariable("BENCH_UPSTREAM_HOST") is { Length: > 0 } name ? name : "api.bench.test";
var certificates = UpstreamCertificates.Create(host);
await File.WriteAllTextAsync(Required("BENCH_UPSTREAM_CA_FILE"), certificates.AuthorityPem);
var tally = new AuthorizationTally(Required("BENCH_PROXY_SECRET"));

var builder = WebApplication.CreateBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen =>
{
    listen.Protocols = HttpProtocols.Http1AndHttp2;
    listen.Use(next => connection =>
    {
        tally.ConnectionAccepted();
        return next(connection);
    });
    listen.UseHttps(certificates.Server);
}));
var app = builder.Build();
app.MapGet("/_bench/counts", () => tally.Snapshot());
app.MapFallback(tally.AnswerAsync);
await app.RunAsync();
return;

static string Required(string variable) =>
    Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : throw new InvalidOperationException($"{variable} is not set.");
