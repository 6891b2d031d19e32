using System.Globalization;

namespace VaultGrains.Domain;

/// <summary>The API's timestamp form: UTC with exactly three fractional digits.</summary>
public static class Timestamps
{
    public static DateTime TruncateToMilliseconds(DateTime value) =>
        new(value.Ticks - (value.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Utc);

    public static string Format(DateTime value) =>
        value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
