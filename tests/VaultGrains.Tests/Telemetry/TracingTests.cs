using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;
using VaultGrains.Tests.Api;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Telemetry;

/// <summary>The API and a silo in one process with tracing on, every span both export kept.</summary>
public sealed class TracingFixture : ApiFixture
{
    public SpanCollector Spans { get; } = new();

    protected override void ConfigureSettings(Dictionary<string, string?> settings) => settings["Telemetry:Tracing"] = "true";

    // After the production registrations, so the redacting processor runs before this exporter.
    protected override void ConfigureSilo(IServiceCollection services) => Collect(services);

    protected override void ConfigureApi(IServiceCollection services) => Collect(services);

    private void Collect(IServiceCollection services) =>
        services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(new SimpleActivityExportProcessor(Spans)));
}

[CollectionDefinition(nameof(TracingCollection))]
public sealed class TracingCollection : ICollectionFixture<TracingFixture>;

[Collection(nameof(TracingCollection))]
public sealed class TracingTests(TracingFixture fixture)
{
    [Fact]
    public async Task One_create_is_one_trace_from_the_API_span_through_the_grain_call_to_the_storage_write()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var response = await client.PostAsJsonAsync(ApiTestKit.Secrets(vaultId), new { env_key = "TRACED", value = "traced-value", allowed_domains = Array.Empty<string>() });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);

        Activity? server = null;
        List<Activity> trace = [];
        await ProcessCluster.WaitUntilAsync(() =>
        {
            server = fixture.Spans.Spans.FirstOrDefault(s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore"
                && s.GetTagItem("http.request.method") as string == "POST" && (s.GetTagItem("http.route") as string ?? "").TrimEnd('/').EndsWith("/secrets", StringComparison.Ordinal)
                && $"{s.GetTagItem("http.response.status_code")}" == "201");
            trace = server is null ? [] : fixture.Spans.Spans.Where(s => s.TraceId == server.TraceId).ToList();
            return Task.FromResult(trace.Any(IsGrainCall) && trace.Any(IsStorageWrite));
        }, TimeSpan.FromSeconds(10), "no complete trace:\n" + Describe(fixture.Spans.Spans));

        Assert.NotNull(server);
        Assert.Contains(trace, s => IsGrainCall(s) && s.Kind == ActivityKind.Client);
        Assert.Contains(trace, s => IsGrainCall(s) && s.Kind == ActivityKind.Server);
        Assert.Contains(trace, s => s.Source.Name.StartsWith("Azure.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_span_holds_a_secret_value_or_a_resource_id()
    {
        const string canary = "canary-7Qm2Zx9Vb4Lp";
        var (organizationId, client, keyId) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var ids = new List<string> { organizationId, vaultId, keyId };
        for (var i = 0; i < 3; i++)
        {
            var secret = await ApiTestKit.CreateSecretAsync(client, vaultId, $"CANARY_{i}", $"{canary}-{i}", "api.example.com");
            ids.Add(secret.GetProperty("id").GetString()!);
        }

        var secretId = ids[^1];
        await client.GetAsync(ApiTestKit.Secret(vaultId, secretId));
        await ApiTestKit.PatchAsync(client, ApiTestKit.Secret(vaultId, secretId), $"{{\"value\":\"{canary}-rotated\"}}");
        await client.DeleteAsync(ApiTestKit.Secret(vaultId, ids[^2]));
        await client.GetAsync(ApiTestKit.Secret(vaultId, ApiTestKit.UnknownSecret));

        await ProcessCluster.WaitUntilAsync(() => Task.FromResult(fixture.Spans.Spans.Any(s => s.Kind == ActivityKind.Server && s.GetTagItem("http.request.method") as string == "DELETE")),
            TimeSpan.FromSeconds(10), "the delete's span was not exported");
        var spans = fixture.Spans.Spans;
        Assert.Contains(spans, s => s.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));
        var leaks = spans.SelectMany(s => SpanCollector.Texts(s).Select(text => (Span: s.DisplayName, Text: text)))
            .Where(t => t.Text.Contains(canary, StringComparison.Ordinal) || TelemetryKit.ResourceId().IsMatch(t.Text) || ids.Any(id => t.Text.Contains(id, StringComparison.Ordinal)))
            .Select(t => $"{t.Span}: {t.Text}")
            .Distinct()
            .ToList();
        Assert.True(leaks.Count == 0, "span attributes hold values or ids:\n" + string.Join('\n', leaks));
    }

    private static bool IsGrainCall(Activity span) =>
        span.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) && span.DisplayName.Contains("CreateSecret", StringComparison.Ordinal);

    private static bool IsStorageWrite(Activity span) =>
        span.Source.Name == "Microsoft.Orleans.Storage" || span.Source.Name.StartsWith("Azure.Storage.Blobs", StringComparison.Ordinal);

    private static string Describe(IEnumerable<Activity> spans) =>
        string.Join('\n', spans.Select(s => $"{s.TraceId} {s.Source.Name} {s.Kind} {s.DisplayName} [{string.Join(", ", s.TagObjects.Select(t => $"{t.Key}={t.Value}"))}]").Take(200));
}
