using System.Text.Json;

namespace VaultGrains.Tests.Cli;

/// <summary>The tool as a person and a script use it, run as a process against the real API.</summary>
[Collection(nameof(CliCollection))]
public sealed class CliWalkthroughTests(CliFixture fixture)
{
    [Fact]
    public async Task Login_vault_import_list_rotate_delete_walk_through()
    {
        var key = await fixture.NewApiKeyAsync();
        var tool = new CliTool(fixture.ApiAddress);
        var url = fixture.ApiAddress.ToString().TrimEnd('/');

        // login: the key from standard input, kept in a 0600 profile that later commands use.
        var login = await tool.RunAsync(["login"], key + "\n");
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal($"Logged in to {url}. Profile: {tool.ProfilePath} (0600).\n", login.Output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, CliTool.ModeOf(tool.ProfilePath));

        var created = Json(await tool.OkAsync("vaults", "create", "Billing", "--description", "Stripe and the database", "--json"));
        var vaultId = created.GetProperty("id").GetString()!;
        Assert.Equal("Billing", created.GetProperty("name").GetString());

        // import: every line read as dotenv tools read it; what the API refuses is listed with its reason.
        var file = TrickyDotenv.WriteFile();
        var import = await tool.RunAsync("secrets", "import", file, "--vault", "Billing", "--domains", "api.example.test");
        Assert.True(import.ExitCode == 1, import.ToString());
        Assert.Equal(
            $"created 7: {TrickyDotenv.AcceptedKeys}\nskipped 0\nrotated 0\nrefused 2: {TrickyDotenv.Refused}\n",
            import.Output);
        Assert.Equal("warning: API_KEY is set on lines 2, 3; the last one is imported\n", import.Error);

        // again: existing keys are skipped; with --update, rotated.
        var again = await tool.RunAsync("secrets", "import", file, "--vault", vaultId);
        Assert.Equal($"created 0\nskipped 7: {TrickyDotenv.AcceptedKeys}\nrotated 0\nrefused 2: {TrickyDotenv.Refused}\n", again.Output);
        var update = Json(await tool.RunAsync("secrets", "import", file, "--vault", vaultId, "--update", "--json"));
        Assert.Equal(TrickyDotenv.Accepted.Select(a => a.Key), Strings(update.GetProperty("rotated")));
        Assert.Empty(Strings(update.GetProperty("created")));
        Assert.Equal(["EMPTY", "CCASECRET_RESERVED"], Strings(update.GetProperty("refused")));
        Assert.Equal("value cannot be empty", update.GetProperty("reasons").GetProperty("EMPTY").GetString());

        // list: a table for people, the API's array for scripts; never a value.
        var listed = Json(await tool.OkAsync("secrets", "list", "--vault", vaultId, "--json"));
        Assert.Equal(TrickyDotenv.Accepted.Select(a => a.Key), listed.EnumerateArray().Select(s => s.GetProperty("env_key").GetString()!));
        var table = (await tool.OkAsync("secrets", "list", "--vault", "Billing")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["ID", "ENV_KEY", "ALLOWED_DOMAINS", "UPDATED"], Columns(table[0]));
        Assert.Equal(
            listed.EnumerateArray().Select(s => new[] { s.GetProperty("id").GetString()!, s.GetProperty("env_key").GetString()!, "api.example.test", s.GetProperty("updated_at").GetString()! }),
            table.Skip(1).Select(Columns));

        // rotate: the new value on standard input.
        var rotated = Json(await tool.RunAsync(["secrets", "rotate", "API_KEY", "--vault", "Billing", "--json"], "sk_live_rotated_value_2\n"));
        Assert.Equal("API_KEY", rotated.GetProperty("env_key").GetString());
        var apiKeyId = rotated.GetProperty("id").GetString()!;
        Assert.Equal(
            $"id:              {apiKeyId}\nenv_key:         API_KEY\nallowed_domains: api.example.test\ncreated:         {rotated.GetProperty("created_at").GetString()}\nupdated:         {rotated.GetProperty("updated_at").GetString()}\n",
            await tool.OkAsync("secrets", "show", apiKeyId, "--vault", vaultId));

        // delete: a vault with secrets is refused with the API's message, then emptied and deleted.
        var refused = await tool.RunAsync("vaults", "delete", "Billing");
        Assert.Equal((1, "", "error: cannot delete vault: vault still contains 7 secret(s)\n"), (refused.ExitCode, refused.Output, refused.Error));
        foreach (var (envKey, _) in TrickyDotenv.Accepted)
        {
            Assert.StartsWith("Deleted secret sec_", await tool.OkAsync("secrets", "delete", envKey, "--vault", "Billing"));
        }

        Assert.Equal($"Deleted vault {vaultId}.\n", await tool.OkAsync("vaults", "delete", "Billing"));
        Assert.Equal("ID  NAME  SECRETS  CREATED\n", await tool.OkAsync("vaults", "list"));

        tool.AssertNothingSecretIn(key, [.. TrickyDotenv.Values, "sk_live_rotated_value_2"]);
    }

    [Fact]
    public async Task An_invalid_dotenv_file_sends_nothing_and_names_every_bad_line()
    {
        var tool = await LoggedInAsync();
        await tool.OkAsync("vaults", "create", "Staging");
        var file = TrickyDotenv.WriteFile("GOOD=value-one\n1BAD=x\nALSO_GOOD=two\nNO_EQUALS\nOPEN=\"never closed\nMORE=x\n");

        var import = await tool.RunAsync("secrets", "import", file, "--vault", "Staging");

        Assert.Equal(1, import.ExitCode);
        Assert.Equal(
            $"error: {file} is not a valid dotenv file; nothing was imported:\n" +
            "  line 2: '1BAD' is not a valid env_key (letters, digits and _, not starting with a digit)\n" +
            "  line 4: expected '=' after 'NO_EQUALS'\n" +
            "  line 5: the \" quote opened on line 5 is never closed\n",
            import.Error);
        Assert.Equal("[]", (await tool.OkAsync("secrets", "list", "--vault", "Staging", "--json")).Trim());
    }

    [Fact]
    public async Task Errors_carry_the_API_message_and_a_non_zero_exit()
    {
        var tool = new CliTool(fixture.ApiAddress);
        var badLogin = await tool.RunAsync(["login"], "nr_not-a-real-key-0000000000000000000000000000\n");
        Assert.Equal((1, "error: invalid or missing API key\n"), (badLogin.ExitCode, badLogin.Error));
        Assert.False(File.Exists(tool.ProfilePath));

        var noKey = await tool.RunAsync("vaults", "list", "--json");
        Assert.Equal(1, noKey.ExitCode);
        Assert.StartsWith("no API key", Json(noKey.Error).GetProperty("error").GetString());

        tool = await LoggedInAsync();
        var missing = await tool.RunAsync("vaults", "show", "vlt_01KQ27AQH800XQTQPJZ0DH14SJ");
        Assert.Equal((1, "", "error: vault not found\n"), (missing.ExitCode, missing.Output, missing.Error));
        var missingJson = await tool.RunAsync("vaults", "show", "vlt_01KQ27AQH800XQTQPJZ0DH14SJ", "--json");
        Assert.Equal("vault not found", Json(missingJson.Error).GetProperty("error").GetString());
        var empty = await tool.RunAsync("vaults", "create", "");
        Assert.Equal((1, "error: name cannot be empty\n"), (empty.ExitCode, empty.Error));
        await tool.OkAsync("vaults", "create", "Dev");
        var badDomain = await tool.RunAsync(["secrets", "set", "TOKEN", "--vault", "Dev", "--domains", "https://x.com"], "value-123456\n");
        Assert.Equal(1, badDomain.ExitCode);
        Assert.StartsWith("error: invalid domain pattern \"https://x.com\": ", badDomain.Error);
        var runtimeMissing = await tool.RunAsync("runtimes", "show", "rtm_01KQ27AQH800XQTQPJZ0DH14SJ");
        Assert.Equal((1, "error: runtime not found\n"), (runtimeMissing.ExitCode, runtimeMissing.Error));
    }

    [Fact]
    public async Task Every_command_prints_JSON_that_parses_with_json()
    {
        var tool = await LoggedInAsync();
        var vault = Json(await tool.OkAsync("vaults", "create", "Json", "--json"));
        var vaultId = vault.GetProperty("id").GetString()!;
        Assert.Equal(vaultId, Json(await tool.OkAsync("vaults", "show", "Json", "--json")).GetProperty("id").GetString());
        Assert.Equal("Json2", Json(await tool.OkAsync("vaults", "rename", vaultId, "Json2", "--json")).GetProperty("name").GetString());
        Assert.Single(Json(await tool.OkAsync("vaults", "list", "--json")).EnumerateArray());

        var secret = Json(await tool.RunAsync(["secrets", "set", "STRIPE_KEY", "--vault", vaultId, "--domains", "api.stripe.com,*.stripe.com", "--json"], "sk_test_json_123456"));
        Assert.Equal(["api.stripe.com", "*.stripe.com"], Strings(secret.GetProperty("allowed_domains")));
        Assert.Equal(5, secret.EnumerateObject().Count());
        Assert.Equal("STRIPE_KEY", Json(await tool.OkAsync("secrets", "show", "STRIPE_KEY", "--vault", vaultId, "--json")).GetProperty("env_key").GetString());

        var tokenFile = Path.Combine(Directory.CreateTempSubdirectory("rt").FullName, "token");
        var runtime = Json(await tool.OkAsync("runtimes", "create", "agent", "--vault", vaultId, "--token-file", tokenFile, "--json"));
        Assert.False(runtime.TryGetProperty("token", out _));
        Assert.StartsWith("rt_", File.ReadAllText(tokenFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, CliTool.ModeOf(tokenFile));
        var runtimeId = runtime.GetProperty("id").GetString()!;
        Assert.StartsWith("rt_", Json(await tool.OkAsync("runtimes", "rotate-token", "agent", "--json")).GetProperty("token").GetString());
        Assert.Single(Json(await tool.OkAsync("runtimes", "list", "--json")).EnumerateArray());
        Assert.Empty(Json(await tool.OkAsync("runtimes", "detach", "agent", "--vault", vaultId, "--json")).GetProperty("vault_ids").EnumerateArray());
        Assert.Equal([vaultId], Strings(Json(await tool.OkAsync("runtimes", "attach", runtimeId, "--vault", "Json2", "--json")).GetProperty("vault_ids")));
        var environment = Json(await tool.OkAsync("runtimes", "env", runtimeId, "--json"));
        Assert.Equal("CCASECRET_STRIPE_KEY", environment.GetProperty("variables").GetProperty("STRIPE_KEY").GetString());
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", environment.GetProperty("ca_certificate").GetString());
        Assert.Contains("STRIPE_KEY=CCASECRET_STRIPE_KEY\n", await tool.OkAsync("runtimes", "env", runtimeId, "--format", "dotenv"));
        Assert.Equal(runtimeId, Json(await tool.OkAsync("runtimes", "delete", runtimeId, "--json")).GetProperty("deleted").GetString());
        Assert.StartsWith("sec_", Json(await tool.OkAsync("secrets", "delete", "STRIPE_KEY", "--vault", vaultId, "--json")).GetProperty("deleted").GetString());
        Assert.Equal(vaultId, Json(await tool.OkAsync("vaults", "delete", vaultId, "--json")).GetProperty("deleted").GetString());
        Assert.True(Json(await tool.OkAsync("logout", "--json")).GetProperty("removed").GetBoolean());
    }

    private async Task<CliTool> LoggedInAsync()
    {
        var tool = new CliTool(fixture.ApiAddress);
        var login = await tool.RunAsync(["login"], await fixture.NewApiKeyAsync());
        Assert.True(login.ExitCode == 0, login.ToString());
        return tool;
    }

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    private static JsonElement Json(CliResult result)
    {
        Assert.True(result.ExitCode is 0 or 1, result.ToString());
        return Json(result.Output);
    }

    private static string[] Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();

    private static string[] Columns(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
