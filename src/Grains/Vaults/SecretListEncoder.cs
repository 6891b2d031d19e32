using System.Text.Json;
using VaultGrains.Domain;

namespace VaultGrains.Grains.Vaults;

/// <summary>
/// Writes a vault's listing exactly as the API's secret object serializes (id, env_key,
/// allowed_domains, created_at, updated_at; timestamps with three fractional digits), so the API
/// can send the grain's bytes as they are. A test compares the two for the same secrets.
/// </summary>
internal static class SecretListEncoder
{
    // The API's escaping (ApiJson): only what JSON itself requires.
    private static readonly JsonWriterOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] Encode(IReadOnlyList<SecretDetails> secrets)
    {
        using var buffer = new MemoryStream(64 + secrets.Count * 192);
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartArray();
            foreach (var secret in secrets)
            {
                json.WriteStartObject();
                json.WriteString("id"u8, secret.Id);
                json.WriteString("env_key"u8, secret.EnvKey);
                json.WriteStartArray("allowed_domains"u8);
                foreach (var domain in secret.AllowedDomains)
                {
                    json.WriteStringValue(domain);
                }

                json.WriteEndArray();
                json.WriteString("created_at"u8, Timestamps.Format(secret.CreatedAt));
                json.WriteString("updated_at"u8, Timestamps.Format(secret.UpdatedAt));
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return buffer.ToArray();
    }
}
