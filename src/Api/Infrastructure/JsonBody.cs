using System.Buffers;
using System.Text.Json;
using VaultGrains.Domain;

namespace VaultGrains.Api;

/// <summary>
/// Reads a request body as one JSON object within the API's own size limit, and reads its
/// fields with messages that name the field and the rule.
/// </summary>
internal sealed class JsonBody : IDisposable
{
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

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.WrittenMemory, new JsonDocumentOptions { MaxDepth = 16 });
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

        return (new JsonBody(document), null);
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
