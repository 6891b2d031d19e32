using System.Text.Json;
using System.Text.RegularExpressions;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Deploy;

/// <summary>
/// deploy/grafana/vaultgrains-dashboard.json keeps every metric and label name in one place, its
/// hidden constant variables: no query names a metric itself, and every variable a query uses exists.
/// </summary>
public sealed partial class GrafanaDashboardTests
{
    [Fact]
    public void Queries_name_metrics_only_through_the_dashboard_constants()
    {
        var path = Path.Combine(TestStorage.RepositoryRoot(), "deploy", "grafana", "vaultgrains-dashboard.json");
        var dashboard = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
        var variables = dashboard.GetProperty("templating").GetProperty("list").EnumerateArray()
            .ToDictionary(v => v.GetProperty("name").GetString()!, v => v);
        var constants = variables.Values.Where(v => v.GetProperty("type").GetString() == "constant")
            .Select(v => v.GetProperty("query").GetString()!).ToArray();
        Assert.Contains("http_server_request_duration_seconds", constants);
        Assert.Contains("vaultgrains_keyvault_call_duration_seconds", constants);

        var queries = dashboard.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => (Panel: p.GetProperty("title").GetString()!, Expr: t.GetProperty("expr").GetString()!)))
            .ToArray();
        Assert.True(queries.Length >= 20, "the dashboard looks empty");
        foreach (var (panel, expr) in queries)
        {
            Assert.DoesNotMatch(LiteralMetric(), expr);
            foreach (Match used in VariableUse().Matches(expr))
            {
                var name = used.Groups[1].Value;
                Assert.True(name.StartsWith("__", StringComparison.Ordinal) || variables.ContainsKey(name), $"{panel}: ${{{name}}} is not a dashboard variable");
            }
        }
    }

    [GeneratedRegex(@"\b(vaultgrains_|orleans_|http_server_)")]
    private static partial Regex LiteralMetric();

    [GeneratedRegex(@"\$\{?(\w+)\}?")]
    private static partial Regex VariableUse();
}
