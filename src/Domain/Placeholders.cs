namespace VaultGrains.Domain;

/// <summary>What an agent holds instead of a value: <c>CCASECRET_&lt;ENV_KEY&gt;</c>.</summary>
public static class Placeholders
{
    public const string Prefix = "CCASECRET_";

    public static string For(string envKey) => Prefix + envKey;
}
