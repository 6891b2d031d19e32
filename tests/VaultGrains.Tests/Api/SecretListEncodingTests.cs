using System.Text.Json;
using VaultGrains.Api;
using VaultGrains.Grains.Vaults;

namespace VaultGrains.Tests.Api;

/// <summary>The vault's pre-encoded listing is byte for byte what the API would serialize itself.</summary>
public sealed class SecretListEncodingTests
{
    [Fact]
    public void The_grains_listing_bytes_are_the_apis_own_serialization()
    {
        var time = new DateTime(2026, 4, 25, 11, 45, 19, 123, DateTimeKind.Utc);
        SecretDetails[] secrets =
        [
            new("sec_01KQ27AQH800XQTQPJZ0DH14SM", "DATABASE_URL", [], time, time),
            new("sec_01KQ27AQH800XQTQPJZ0DH14SN", "STRIPE_KEY", ["api.stripe.com", "*.example.com", "xn--bcher-kva.example"], time, time.AddMilliseconds(1)),
            new("sec_01KQ27AQH800XQTQPJZ0DH14SP", "A_B_C_9", ["a-b.example.com"], time.AddTicks(9_999), time.AddDays(3)),
        ];

        var expected = JsonSerializer.SerializeToUtf8Bytes(secrets.Select(SecretResponse.From).ToArray(), ApiJson.Options);

        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), System.Text.Encoding.UTF8.GetString(SecretListEncoder.Encode(secrets)));
        Assert.Equal("[]", System.Text.Encoding.UTF8.GetString(SecretListEncoder.Encode([])));
    }
}
