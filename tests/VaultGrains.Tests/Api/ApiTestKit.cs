using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using VaultGrains.Grains;
using VaultGrains.Grains.Vaults;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Api;

/// <summary>What the API tests share: request bodies, exact error assertions, and a look at a vault's blob.</summary>
internal static class ApiTestKit
{
    public const string UnknownVault = "vlt_01KQ27AQH800XQTQPJZ0DH14SJ";
    public const string UnknownSecret = "sec_01KQ27AQH800XQTQPJZ0DH14SJ";
    public const string Vaults = "/api/public/v1/vaults";

    private static readonly JsonSerializerOptions ErrorJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static string Secrets(string vaultId) => $"{Vaults}/{vaultId}/secrets";

    public static string Secret(string vaultId, string secretId) => $"{Vaults}/{vaultId}/secrets/{secretId}";

    /// <summary>The status, and the body exactly <c>{"error":"message"}</c>.</summary>
    public static async Task AssertError(HttpResponseMessage response, HttpStatusCode status, string message)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal(JsonSerializer.Serialize(new { error = message }, ErrorJson), body);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    public static async Task<JsonElement> CreateSecretAsync(HttpClient client, string vaultId, string envKey, string value = "some-value", params string[] domains) =>
        await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = envKey, value, allowed_domains = domains }));

    public static Task<HttpResponseMessage> PatchAsync(HttpClient client, string url, string json) => client.PatchAsync(url, Json(json));

    public static string[] Names(JsonElement element) => element.EnumerateObject().Select(p => p.Name).ToArray();

    public static string Text(JsonElement element, string property) => element.GetProperty(property).GetString()!;

    /// <summary>Every byte stored for a vault (its head and logs), or null when storage holds none.</summary>
    public static Task<byte[]?> ReadVaultBlobAsync(ApiFixture fixture, string vaultId) => StoredVaults(fixture).ReadBytesAsync(vaultId);

    /// <summary>A vault's stored state, read back as a new activation reads it.</summary>
    public static async Task<VaultState> ReadVaultStateAsync(ApiFixture fixture, string vaultId) =>
        (await StoredVaults(fixture).ReadAsync(vaultId))!.Value.State;

    private static StoredVaults StoredVaults(ApiFixture fixture) => new(fixture.Storage, fixture.SiloServices.GetRequiredService<Serializer>());

    public static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
