using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>
/// Damaged request bodies, byte by byte, on every endpoint that reads one: each answer is a 400
/// naming the problem (or a 2xx when the damage happens to leave valid JSON), never a 5xx; a
/// refused body writes nothing; no log line and no answer carries the text that was sent.
/// </summary>
[Collection(nameof(ApiCollection))]
public sealed class BodyFuzzTests(ApiFixture fixture)
{
    private const int RandomCasesPerEndpoint = 12;

    /// <summary>Byte sequences that are not UTF-8 (as raw bytes inside a JSON string).</summary>
    public static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xFE], [0x80], [0xBF],                  // never valid; lone continuation bytes
        [0xC0, 0xAF], [0xC1, 0xBF],                      // overlong 2-byte '/' and DEL
        [0xE0, 0x80, 0xAF], [0xF0, 0x80, 0x80, 0xAF],    // overlong 3- and 4-byte '/'
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],          // surrogates U+D800 and U+DFFF encoded as UTF-8 (CESU)
        [0xED, 0xA0, 0xBD, 0xED, 0xB2, 0xA9],            // a surrogate pair encoded as two 3-byte sequences
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], // above U+10FFFF
        [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x94],        // truncated multi-byte sequences
        [0xC3, 0x28], [0xE2, 0x28, 0xA1],                // a lead byte followed by ASCII
    ];

    /// <summary>Escapes that decode to unpaired surrogates.</summary>
    public static readonly string[] UnpairedEscapes =
    [
        @"\ud800", @"\uDBFF", @"\udc00", @"\uDFFF", @"\ud800\u0041", @"\ud800\ud800", @"\udc00\ud800", @"\ud83d", @"x\ud83d",
    ];

    [Fact]
    public async Task Every_body_endpoint_refuses_damaged_bytes_with_a_400_and_writes_nothing()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var secretId = Text(await CreateSecretAsync(client, vaultId, "EXISTING"), "id");
        var runtime = await ApiFixture.ReadAsync(await client.PostAsync("/api/public/v1/runtimes", Json("""{"name":"agent"}""")));
        var runtimeId = Text(runtime, "id");
        var marker = "FUZZ" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        var unhandledBefore = UnhandledErrors();

        var targets = new Target[]
        {
            new(client, HttpMethod.Post, Vaults, Vaults, "{\"name\":\"", "\"}"),
            new(client, HttpMethod.Patch, $"{Vaults}/{vaultId}", $"{Vaults}/{vaultId}", "{\"description\":\"", "\"}"),
            new(client, HttpMethod.Post, Secrets(vaultId), Secrets(vaultId), "{\"env_key\":\"FUZZED\",\"value\":\"", "\"}"),
            new(client, HttpMethod.Patch, Secret(vaultId, secretId), Secret(vaultId, secretId), "{\"value\":\"", "\"}"),
            new(client, HttpMethod.Post, "/api/public/v1/runtimes", "/api/public/v1/runtimes", "{\"name\":\"", "\"}"),
            new(client, HttpMethod.Patch, $"/api/public/v1/runtimes/{runtimeId}", $"/api/public/v1/runtimes/{runtimeId}", "{\"name\":\"", "\"}"),
            new(admin, HttpMethod.Post, "/api/admin/v1/organizations", null, "{\"name\":\"", "\"}"),
            new(admin, HttpMethod.Post, $"/api/admin/v1/organizations/{organizationId}/api-keys", $"/api/admin/v1/organizations/{organizationId}/api-keys", "{\"name\":\"", "\"}"),
        };

        var random = new Random(20261202);
        foreach (var target in targets)
        {
            foreach (var (body, expected) in DamagedBodies(target, marker, random))
            {
                await SendAndCheckAsync(target, body, expected, marker);
            }
        }

        Assert.Equal(unhandledBefore, UnhandledErrors());
        Assert.DoesNotContain(fixture.Logs.Lines, line => line.Contains(marker, StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.Responses.Bodies, body => body.Contains(marker, StringComparison.Ordinal) && body.Contains("\"error\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"name":"a","name":"b"}""", "request body has a duplicate property \"name\"")]
    [InlineData("""{"name":"a","\u006eame":"b"}""", "request body has a duplicate property \"name\"")]
    [InlineData("""{"name":"a","x":{"k":1,"k":2}}""", "request body has a duplicate property name")]
    [InlineData("""{"name":"a","x":[{"description":1,"description":2}]}""", "request body has a duplicate property \"description\"")]
    [InlineData("""{"name":"\ud800"}""", "request body has an unpaired surrogate escape in \"name\"")]
    [InlineData("""{"name":"ok","x":["\udc00"]}""", "request body has an unpaired surrogate escape in a string")]
    [InlineData("""{"name":"ok","description":{"deep":["\ud800\u0041"]}}""", "request body has an unpaired surrogate escape in \"description\"")]
    [InlineData("""{"name":"ok","\ud800":1}""", "request body has an unpaired surrogate escape in a property name")]
    public async Task Strictness_errors_name_the_problem(string body, string message)
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        await AssertError(await client.PostAsync(Vaults, Json(body)), HttpStatusCode.BadRequest, message);

        Assert.Equal(0, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).GetArrayLength());
    }

    [Fact]
    public async Task Invalid_utf8_and_a_lone_surrogate_escape_in_a_secret_value_are_400_not_500()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        await AssertError(await client.PostAsync(Secrets(vaultId), Bytes([.. "{\"env_key\":\"A\",\"value\":\"x"u8, 0xFF, .. "\"}"u8])), HttpStatusCode.BadRequest, "request body is not valid UTF-8");
        await AssertError(await client.PostAsync(Secrets(vaultId), Json("""{"env_key":"A","value":"\ud800"}""")), HttpStatusCode.BadRequest, "request body has an unpaired surrogate escape in \"value\"");
        await AssertError(await client.PostAsync(Secrets(vaultId), Json("""{"env_key":"A","value":"v","value":"w"}""")), HttpStatusCode.BadRequest, "request body has a duplicate property \"value\"");

        Assert.Equal(0, (await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)))).GetArrayLength());
    }

    [Fact]
    public async Task A_leading_byte_order_mark_and_escaped_pairs_and_nul_are_valid()
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        var withBom = await client.PostAsync(Vaults, Bytes([0xEF, 0xBB, 0xBF, .. "{\"name\":\"bom\"}"u8]));
        Assert.Equal(HttpStatusCode.Created, withBom.StatusCode);
        var pair = await ApiFixture.ReadAsync(await client.PostAsync(Vaults, Json("""{"name":"\ud83d\udd10 \u0000"}""")));
        Assert.Equal("🔐 \0", Text(pair, "name"));
        await AssertError(await client.PostAsync(Vaults, Bytes([.. "{\"name\":\"a"u8, 0x00, .. "\"}"u8])), HttpStatusCode.BadRequest, "request body is not valid JSON");
    }

    private async Task SendAndCheckAsync(Target target, byte[] body, string? expected, string marker)
    {
        var before = await SnapshotAsync(target);
        using var request = new HttpRequestMessage(target.Method, target.Url) { Content = Bytes(body) };
        var response = await target.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var what = $"{target.Method} {target.Url} with {Convert.ToHexString(body)}";
        Assert.True((int)response.StatusCode < 500, $"{what}: {(int)response.StatusCode} {text}");
        Assert.DoesNotContain(marker, text.Contains("\"error\"", StringComparison.Ordinal) ? text : "");
        if (response.IsSuccessStatusCode)
        {
            Assert.True(expected is null, $"{what}: expected 400 {expected}, got {(int)response.StatusCode}");
            return;
        }

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error").GetString();
        if (expected is not null)
        {
            Assert.True(expected == error, $"{what}: expected {expected}, got {error}");
        }

        Assert.True(before == await SnapshotAsync(target), $"{what} was refused but changed {target.ReadBack}");
    }

    private async Task<string> SnapshotAsync(Target target)
    {
        if (target.ReadBack is null)
        {
            var organizations = await fixture.SiloServices.GetRequiredService<IGrainFactory>().GetGrain<IOrganizationDirectoryGrain>(0).List();
            return organizations.Count.ToString();
        }

        var response = await target.Client.GetAsync(target.ReadBack);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>Each damage with the error it must get, or null where the result may be valid.</summary>
    private static IEnumerable<(byte[] Body, string? Expected)> DamagedBodies(Target target, string marker, Random random)
    {
        var prefix = Encoding.UTF8.GetBytes(target.Prefix + marker);
        var suffix = Encoding.UTF8.GetBytes(target.Suffix);
        byte[] With(ReadOnlySpan<byte> damage) => [.. prefix, .. damage, .. suffix];

        var field = target.Prefix[2..target.Prefix.IndexOf('"', 2)];
        var stringField = target.Prefix[(target.Prefix.LastIndexOf(",\"", StringComparison.Ordinal) is >= 0 and var comma ? comma + 2 : 2)..^3];
        foreach (var bytes in InvalidUtf8)
        {
            yield return (With(bytes), "request body is not valid UTF-8");
        }

        foreach (var escape in UnpairedEscapes)
        {
            yield return (With(Encoding.ASCII.GetBytes(escape)), $"request body has an unpaired surrogate escape in \"{stringField}\"");
        }

        yield return ([0xEF, 0xBB, 0xBF, .. With("x"u8)], null);                    // leading BOM: ignored
        yield return ([0xEF, 0xBB, .. With("x"u8)], "request body is not valid UTF-8"); // truncated BOM
        yield return ([0xFE, 0xFF, .. With("x"u8)], "request body is not valid UTF-8"); // UTF-16 BOM
        yield return (With([0x00]), "request body is not valid JSON");               // raw NUL inside a string
        yield return ([.. With("x"u8), 0x00], "request body is not valid JSON");     // NUL after the object
        yield return (With(@"\u0000"u8), null);                                      // escaped NUL: valid text

        // Duplicated keys, at the top and nested: the field the endpoint reads, and an unknown one.
        var first = Encoding.UTF8.GetString(With("a"u8));
        yield return (Encoding.UTF8.GetBytes(first[..^1] + $",\"{field}\":\"b\"}}"), $"request body has a duplicate property \"{field}\"");
        yield return (Encoding.UTF8.GetBytes(first[..^1] + ",\"extra\":{\"k\":1,\"k\":2}}"), "request body has a duplicate property name");
        yield return (Encoding.UTF8.GetBytes(first[..^1] + ",\"extra\":[{\"" + marker + "\":1,\"" + marker + "\":2}]}"), "request body has a duplicate property name");

        // Random damage: 1 to 4 random high bytes somewhere in the string, often (not always) invalid.
        for (var i = 0; i < RandomCasesPerEndpoint; i++)
        {
            var damage = new byte[random.Next(1, 5)];
            random.NextBytes(damage);
            for (var j = 0; j < damage.Length; j++)
            {
                damage[j] |= 0x80;
            }

            yield return (With(damage), System.Text.Unicode.Utf8.IsValid(damage) ? null : "request body is not valid UTF-8");
        }
    }

    private int UnhandledErrors() => fixture.Logs.Lines.Count(line => line.StartsWith("Error", StringComparison.Ordinal) && line.Contains("Unhandled error", StringComparison.Ordinal));

    private static ByteArrayContent Bytes(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private sealed record Target(HttpClient Client, HttpMethod Method, string Url, string? ReadBack, string Prefix, string Suffix);
}
