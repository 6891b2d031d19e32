namespace VaultGrains.Tests.Cli;

/// <summary>A dotenv file with the lines dotenv tools disagree on or people get wrong, and what each key must hold.</summary>
public static class TrickyDotenv
{
    public const string Text =
        "# Billing secrets, exported from the old host\n" +
        "API_KEY=first-one-overwritten\n" +
        "export API_KEY=sk_live_51HqLyjWDarjtT1zdp7dc   # the live key\n" +
        "\n" +
        "DATABASE_URL = \"postgres://app:p@ss w0rd@db.internal:5432/app?sslmode=require\"\n" +
        "SINGLE='literal $HOME and \\n stay'\n" +
        "HASH_IN_VALUE=abc#def\n" +
        "PRIVATE_KEY=\"-----BEGIN KEY-----\n" +
        "MIIBVwIBADANBgkq\n" +
        "-----END KEY-----\"\n" +
        "ESCAPED=\"tab\\there \\\"quoted\\\"\"  # comment after quotes\n" +
        "EMPTY=\n" +
        "CCASECRET_RESERVED=reserved-value-1\n" +
        "CRLF_VALUE=crlf-value-99\r\n";

    /// <summary>What the API accepts, in the order keys first appear.</summary>
    public static readonly (string Key, string Value)[] Accepted =
    [
        ("API_KEY", "sk_live_51HqLyjWDarjtT1zdp7dc"),
        ("DATABASE_URL", "postgres://app:p@ss w0rd@db.internal:5432/app?sslmode=require"),
        ("SINGLE", "literal $HOME and \\n stay"),
        ("HASH_IN_VALUE", "abc#def"),
        ("PRIVATE_KEY", "-----BEGIN KEY-----\nMIIBVwIBADANBgkq\n-----END KEY-----"),
        ("ESCAPED", "tab\there \"quoted\""),
        ("CRLF_VALUE", "crlf-value-99"),
    ];

    public static readonly string[] Values = [.. Accepted.Select(a => a.Value), "first-one-overwritten", "reserved-value-1"];

    public static string AcceptedKeys => string.Join(", ", Accepted.Select(a => a.Key));

    public const string Refused =
        "EMPTY (value cannot be empty), CCASECRET_RESERVED (env_key must not start with the reserved prefix CCASECRET_)";

    public static string WriteFile(string text = Text)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-env").FullName, "billing.env");
        File.WriteAllText(path, text);
        return path;
    }
}
