using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VaultGrains.Cli.Output;

/// <summary>What a command prints: the API's JSON with <c>--json</c>, text for people otherwise; errors on standard error.</summary>
public sealed class Printer(bool json, TextWriter output, TextWriter error)
{
    /// <summary>For JSON the tool writes itself: readable (no \u0027 for a quote), still valid JSON.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public bool Json => json;

    /// <summary>With <c>--json</c>, the API's body as it came; otherwise <paramref name="forPeople"/>.</summary>
    public void Print(string apiJson, Func<string> forPeople) => output.Write(json ? apiJson.TrimEnd('\n') + "\n" : forPeople());

    /// <summary>With <c>--json</c>, <paramref name="node"/>; otherwise <paramref name="forPeople"/>.</summary>
    public void Print(JsonNode node, Func<string> forPeople) => Print(node.ToJsonString(JsonOptions), forPeople);

    public void Warn(string line) => error.WriteLine(line);

    public void Error(string message)
    {
        if (json)
        {
            error.WriteLine(new JsonObject { ["error"] = message }.ToJsonString(JsonOptions));
        }
        else
        {
            error.WriteLine("error: " + message);
        }
    }

    public static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonArray array => string.Join(",", array.Select(Text)),
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        _ => node.ToJsonString(),
    };

    /// <summary><c>key: value</c> lines, keys aligned.</summary>
    public static string Fields(params (string Name, string Value)[] fields)
    {
        var width = fields.Max(f => f.Name.Length) + 1;
        return string.Concat(fields.Select(f => (f.Name + ":").PadRight(width) + " " + f.Value + "\n"));
    }
}
