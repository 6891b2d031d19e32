using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;
using VaultGrains.Domain;

namespace VaultGrains.Api;

/// <summary>
/// Reads a request body as one JSON object within the API's own size limit, and reads its
/// fields with messages that name the field and the rule. The body must be strict JSON: UTF-8
/// only, no unpaired surrogate escapes, no property named twice in one object.
/// </summary>
internal sealed class JsonBody : IDisposable
{
    public const string NotUtf8 = "request body is not valid UTF-8";
    private static readonly byte[] Utf8Bom = [0xEF, 0xBB, 0xBF];

    // The fields the API reads: only these names are ever put in an error message, never a name
    // the client made up (it could be anything, a pasted secret included).
    private static readonly HashSet<string> KnownFields = new(StringComparer.Ordinal)
    {
        "name", "description", "env_key", "value", "allowed_domains", "vault_ids", "disabled", "limits", "vaults", "runtimes",
    };

    private readonly JsonDocument document;

    private JsonBody(JsonDocument document) => this.document = document;

    public JsonElement Root => document.RootElement;

    /// <summary>The parsed object, or the 4xx that says why there is none.</summary>
    public static async Task<(JsonBody? Body, IResult? Error)> ReadAsync(HttpRequest request)
    {
        if (request.ContentLength > SecretRules.MaxRequestBodyBytes)
        {
            return (null, TooLarge());
        }

        var buffer = new ArrayBufferWriter<byte>(request.ContentLength is > 0 and var length ? (int)length : 4096);
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(8192);
                var read = await request.Body.ReadAsync(memory, request.HttpContext.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > SecretRules.MaxRequestBodyBytes)
                {
                    return (null, TooLarge());
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }

        if (buffer.WrittenCount == 0)
        {
            return (null, ApiResults.BadRequest("request body must be a JSON object"));
        }

        var json = buffer.WrittenMemory;

        // RFC 8259 lets a parser ignore a leading byte order mark; some Windows tools send one.
        if (json.Span.StartsWith(Utf8Bom))
        {
            json = json[Utf8Bom.Length..];
        }

        // Checked on the whole body before parsing: the parser itself only notices bad bytes when
        // a string is read, which used to surface as an exception (500) in a handler.
        if (!Utf8.IsValid(json.Span))
        {
            return (null, ApiResults.BadRequest(NotUtf8));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException)
        {
            return (null, ApiResults.BadRequest("request body is not valid JSON"));
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return (null, ApiResults.BadRequest("request body must be a JSON object"));
        }

        if (FindStrictnessError(document.RootElement, null) is { } strictness)
        {
            document.Dispose();
            return (null, ApiResults.BadRequest(strictness));
        }

        return (new JsonBody(document), null);
    }

    /// <summary>
    /// The first string that does not decode to well-formed UTF-16 (an escape of a lone or
    /// mismatched surrogate), or the first property named twice in one object (compared after
    /// unescaping, so <c>"a"</c> and <c>"\u0061"</c> are the same name), at any depth.
    /// </summary>
    private static string? FindStrictnessError(JsonElement element, string? field)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    if (!DecodesCleanly(JsonMarshal.GetRawUtf8PropertyName(property), () => property.Name))
                    {
                        return "request body has an unpaired surrogate escape in a property name";
                    }

                    var known = KnownFields.Contains(property.Name) ? property.Name : null;
                    if (!seen.Add(property.Name))
                    {
                        return known is null ? "request body has a duplicate property name" : $"request body has a duplicate property \"{known}\"";
                    }

                    if (FindStrictnessError(property.Value, field ?? known) is { } error)
                    {
                        return error;
                    }
                }

                return null;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (FindStrictnessError(item, field) is { } error)
                    {
                        return error;
                    }
                }

                return null;
            case JsonValueKind.String when !DecodesCleanly(JsonMarshal.GetRawUtf8Value(element), () => element.GetString()):
                return field is null ? "request body has an unpaired surrogate escape in a string" : $"request body has an unpaired surrogate escape in \"{field}\"";
            default:
                return null;
        }
    }

    // The raw bytes are valid UTF-8 (checked before parsing), so only a \u escape can still make
    // a string that is not well-formed UTF-16; the parser refuses to decode such a string.
    private static bool DecodesCleanly(ReadOnlySpan<byte> raw, Func<string?> decode)
    {
        if (raw.IndexOf("\\u"u8) < 0)
        {
            return true;
        }

        try
        {
            decode();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Reads an optional string field: absent or null gives null, another type gives an error.</summary>
    public bool TryGetString(string name, out string? value, out string? error)
    {
        value = null;
        error = null;
        if (!Root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            error = $"{name} must be a string";
            return false;
        }

        value = element.GetString();
        return true;
    }

    /// <summary>True when the field is present (even as null).</summary>
    public bool Has(string name) => Root.TryGetProperty(name, out _);

    /// <summary>Reads an optional array of strings: absent or null gives null.</summary>
    public bool TryGetStringArray(string name, out List<string>? values, out string? error)
    {
        values = null;
        error = null;
        if (!Root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.Array)
        {
            error = $"{name} must be an array of strings";
            return false;
        }

        values = new List<string>(element.GetArrayLength());
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                error = $"{name} must be an array of strings";
                values = null;
                return false;
            }

            values.Add(item.GetString()!);
        }

        return true;
    }

    public void Dispose() => document.Dispose();

    private static IResult TooLarge() =>
        ApiResults.Error(StatusCodes.Status413PayloadTooLarge, $"request body must be at most {SecretRules.MaxRequestBodyBytes} bytes");
}
