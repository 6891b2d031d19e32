using System.Diagnostics;
using System.Text;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Cli;

/// <summary>
/// <c>vaultgrains run</c>: a real command (curl, sh, sleep) started with placeholders, the proxy and
/// its CA, reaching a loopback TLS upstream through the in-process proxy.
/// </summary>
[Collection(nameof(CliCollection))]
public sealed class CliRunTests(CliFixture fixture)
{
    /// <summary>A logged-in tool, a vault holding the tricky file's secrets (for api.example.test), and a runtime with its token in a file.</summary>
    private async Task<Agent> NewAgentAsync()
    {
        var key = await fixture.NewApiKeyAsync();
        var tool = new CliTool(fixture.ApiAddress);
        Assert.Equal(0, (await tool.RunAsync(["login"], key)).ExitCode);
        await tool.OkAsync("vaults", "create", "Agents");
        var import = await tool.RunAsync("secrets", "import", TrickyDotenv.WriteFile(), "--vault", "Agents", "--domains", "api.example.test");
        Assert.True(import.ExitCode == 1 && import.Output.StartsWith("created 7:", StringComparison.Ordinal), import.ToString());
        var tokenFile = Path.Combine(Directory.CreateTempSubdirectory("rt").FullName, "token");
        var created = await tool.OkAsync("runtimes", "create", "billing-agent", "--vault", "Agents", "--token-file", tokenFile);
        Assert.EndsWith($"The token is in {tokenFile} (0600).\n", created);
        var token = File.ReadAllText(tokenFile).Trim();
        Assert.DoesNotContain(token, created);
        return new Agent(tool, key, tokenFile, token);
    }

    [Fact]
    public async Task Curl_through_the_proxy_gets_values_for_the_allowed_host_and_placeholders_elsewhere()
    {
        var agent = await NewAgentAsync();
        var marker = Guid.NewGuid().ToString("N");
        var query = string.Join('&', TrickyDotenv.Accepted.Select(a => $"{a.Key}=CCASECRET_{a.Key}"));

        foreach (var host in new[] { "api.example.test", "other.example.test" })
        {
            var curl = await agent.Tool.RunAsync(
                "run", "--runtime", "billing-agent", "--token-file", agent.TokenFile, "--",
                "curl", "-sS", "--fail-with-body", "-H", "X-Key: CCASECRET_API_KEY", $"https://{host}:{fixture.Upstream.HttpsPort}/{marker}/{host}?{query}");
            Assert.True(curl.ExitCode == 0, curl.ToString());
            Assert.Contains("x-key: ", curl.Output, StringComparison.OrdinalIgnoreCase);
        }

        // The allowed host received every value exactly as the file meant it; the other, placeholders.
        var allowed = fixture.Upstream.RequestsWith($"{marker}/api.example.test").Single();
        Assert.Equal("sk_live_51HqLyjWDarjtT1zdp7dc", allowed.Header("X-Key"));
        Assert.Equal(TrickyDotenv.Accepted.ToDictionary(a => a.Key, a => a.Value), QueryOf(allowed.Target));
        var other = fixture.Upstream.RequestsWith($"{marker}/other.example.test").Single();
        Assert.Equal("CCASECRET_API_KEY", other.Header("X-Key"));
        Assert.Equal(TrickyDotenv.Accepted.ToDictionary(a => a.Key, a => "CCASECRET_" + a.Key), QueryOf(other.Target));

        // curl's own output (the upstream's echo) was scrubbed by the proxy; the tool printed nothing secret.
        agent.Tool.AssertNothingSecretIn(agent.ApiKey, [.. TrickyDotenv.Values, agent.Token]);
    }

    [Fact]
    public async Task The_command_gets_placeholders_proxy_and_a_private_bundle_and_its_exit_code_passes_through()
    {
        var agent = await NewAgentAsync();
        const string script =
            "echo \"$SSL_CERT_FILE\"; stat -c %a \"$SSL_CERT_FILE\"; " +
            "for v in NODE_EXTRA_CA_CERTS REQUESTS_CA_BUNDLE CURL_CA_BUNDLE GIT_SSL_CAINFO; do eval \"test \\\"\\$$v\\\" = \\\"$SSL_CERT_FILE\\\"\" || echo \"$v differs\"; done; " +
            "grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\"; " +
            "echo \"$API_KEY $CCASECRET_API_KEY\"; " +
            "test \"$HTTPS_PROXY\" = \"$https_proxy\" && test \"$HTTP_PROXY\" = \"$HTTPS_PROXY\" && echo \"${HTTPS_PROXY%%:*}\"; " +
            "echo \"no_proxy=[$NO_PROXY$no_proxy] key=[$VAULTGRAINS_API_KEY] token=[$VAULTGRAINS_RUNTIME_TOKEN]\"; exit 7";

        var run = await agent.Tool.RunAsync(["run", "--runtime", "billing-agent", "--", "sh", "-c", script], null, new Dictionary<string, string>
        {
            ["VAULTGRAINS_RUNTIME_TOKEN"] = agent.Token,
            ["VAULTGRAINS_API_KEY"] = agent.ApiKey,
            ["NO_PROXY"] = "*",
            ["no_proxy"] = "example.test",
        });

        Assert.True(run.ExitCode == 7, run.ToString());
        var lines = run.Output.Split('\n');
        var bundle = lines[0];
        Assert.Equal("600", lines[1]);
        Assert.True(int.Parse(lines[2]) > 1, "the bundle holds the system's roots and the proxy CA");
        Assert.Equal("CCASECRET_API_KEY CCASECRET_API_KEY", lines[3]);
        Assert.Equal("http", lines[4]);
        Assert.Equal("no_proxy=[] key=[] token=[]", lines[5]);
        Assert.False(File.Exists(bundle), "the bundle is removed when the command ends");
        Assert.Equal("", run.Error);
    }

    [Fact]
    public async Task A_missing_token_or_command_fails_before_anything_runs()
    {
        var agent = await NewAgentAsync();
        var noToken = await agent.Tool.RunAsync("run", "--runtime", "billing-agent", "--", "true");
        Assert.Equal(125, noToken.ExitCode);
        Assert.StartsWith("error: no runtime token", noToken.Error);

        var notFound = await agent.Tool.RunAsync("run", "--runtime", "billing-agent", "--token-file", agent.TokenFile, "--", "no-such-command-vg");
        Assert.Equal((127, "error: no-such-command-vg: command not found\n"), (notFound.ExitCode, notFound.Error));
    }

    [Theory]
    [InlineData(15)]
    [InlineData(2)]
    public async Task A_signal_reaches_the_command_and_nothing_secret_is_in_the_process_list(int signal)
    {
        var agent = await NewAgentAsync();
        using var tool = agent.Tool.Start(["run", "--runtime", "billing-agent", "--", "sleep", "30"], new Dictionary<string, string>
        {
            ["VAULTGRAINS_RUNTIME_TOKEN"] = agent.Token,
        });
        var output = tool.StandardOutput.ReadToEndAsync();
        var error = tool.StandardError.ReadToEndAsync();

        // Wait for the sleep the tool started, then read every process's command line.
        var sleep = await ChildOfAsync(tool.Id, "sleep");
        var commandLines = Directory.EnumerateDirectories("/proc")
            .Select(d => Path.Combine(d, "cmdline"))
            .Select(TryRead)
            .Where(c => c.Length > 0)
            .ToList();
        Assert.Contains(commandLines, c => c.Contains("sleep\u000030", StringComparison.Ordinal));
        foreach (var secret in TrickyDotenv.Values.Append(agent.Token).Append(agent.ApiKey))
        {
            Assert.DoesNotContain(commandLines, c => c.Contains(secret, StringComparison.Ordinal));
        }

        if (IgnoredByThisProcess(signal))
        {
            // A shell without job control starts a background job with SIGINT ignored, and children
            // inherit that across exec: the command then ignores the forwarded signal, as it would
            // under that shell. Seen that way, then ended with SIGTERM.
            Assert.Equal(0, Kill(tool.Id, signal));
            await Task.Delay(500);
            Assert.True(Directory.Exists($"/proc/{sleep}"), "an inherited ignore of the signal was not kept");
            signal = 15;
        }

        Assert.Equal(0, Kill(tool.Id, signal));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await tool.WaitForExitAsync(timeout.Token);
        Assert.True(tool.ExitCode == 128 + signal, $"exit {tool.ExitCode}: {await output} {await error}");
        Assert.False(Directory.Exists($"/proc/{sleep}"), "the command ended with the tool");
    }

    // The SigIgn mask of /proc/self/status: bit n-1 set when signal n is ignored.
    private static bool IgnoredByThisProcess(int signal) =>
        File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal)) is { } line
        && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (signal - 1))) != 0;

    private static Dictionary<string, string> QueryOf(string target) =>
        target[(target.IndexOf('?') + 1)..].Split('&')
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => Uri.UnescapeDataString(pair[1]));

    private static async Task<int> ChildOfAsync(int parent, string name)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var directory in Directory.EnumerateDirectories("/proc"))
            {
                var stat = TryRead(Path.Combine(directory, "stat"));
                var close = stat.LastIndexOf(')');
                if (close > 0 && stat.Contains($"({name})", StringComparison.Ordinal) && stat[(close + 2)..].Split(' ')[1] == $"{parent}")
                {
                    return int.Parse(Path.GetFileName(directory));
                }
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"no {name} started by {parent}");
    }

    private static string TryRead(string path)
    {
        try
        {
            return Encoding.UTF8.GetString(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    private sealed record Agent(CliTool Tool, string ApiKey, string TokenFile, string Token);
}
