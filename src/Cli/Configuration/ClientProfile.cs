using System.Text.Json;
using System.Text.Json.Nodes;
using VaultGrains.Cli.Output;

namespace VaultGrains.Cli.Configuration;

/// <summary>
/// Where the tool finds the API and its key: <c>VAULTGRAINS_URL</c> and <c>VAULTGRAINS_API_KEY</c>
/// first, then the profile file that <c>vaultgrains login</c> wrote (mode 0600). A key is never taken
/// from the command line: it would show in the process list and in shell history.
/// </summary>
public sealed record ClientProfile(Uri Url, string? ApiKey)
{
    public const string UrlVariable = "VAULTGRAINS_URL";
    public const string ApiKeyVariable = "VAULTGRAINS_API_KEY";
    public const string ProfileVariable = "VAULTGRAINS_PROFILE";

    /// <summary>Where ./run.sh serves the API: the default when nothing else says.</summary>
    public static readonly Uri DefaultUrl = new("http://127.0.0.1:8080");

    /// <summary><c>$VAULTGRAINS_PROFILE</c>, else <c>$XDG_CONFIG_HOME/vaultgrains/profile.json</c>, else <c>~/.config/vaultgrains/profile.json</c>.</summary>
    public static string ProfilePath()
    {
        if (Environment.GetEnvironmentVariable(ProfileVariable) is { Length: > 0 } explicitPath)
        {
            return explicitPath;
        }

        var configHome = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        return Path.Combine(configHome, "vaultgrains", "profile.json");
    }

    /// <summary>The settings in force: each of URL and key from its variable, else from the profile.</summary>
    public static ClientProfile Load()
    {
        var stored = ReadStored();
        var url = Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : stored?.Url;
        var key = Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } keyFromEnvironment ? keyFromEnvironment : stored?.ApiKey;
        return new ClientProfile(url is null ? DefaultUrl : ParseUrl(url), key);
    }

    public static Uri ParseUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new CliException($"'{url}' is not an http:// or https:// URL");

    /// <summary>Writes the profile readable by its owner only (0600), replacing any earlier one.</summary>
    public void Save()
    {
        var path = ProfilePath();
        PrivateFile.CreateFolder(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var json = new JsonObject { ["url"] = Url.ToString().TrimEnd('/'), ["api_key"] = ApiKey }.ToJsonString();

        PrivateFile.Write(path, json);
    }

    /// <summary>Removes the profile; false when there was none.</summary>
    public static bool Delete()
    {
        var path = ProfilePath();
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    private static (string? Url, string? ApiKey)? ReadStored()
    {
        var path = ProfilePath();
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var profile = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
            return (profile?["url"]?.GetValue<string>(), profile?["api_key"]?.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new CliException($"the profile {path} is not valid JSON: run 'vaultgrains login' again");
        }
    }
}
