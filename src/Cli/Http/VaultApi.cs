using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VaultGrains.Cli.Configuration;

namespace VaultGrains.Cli.Http;

/// <summary>The public API (<c>/api/public/v1</c>) as the tool uses it: JSON in, the API's JSON text and its parsed form out.</summary>
public sealed class VaultApi : IDisposable
{
    private const string BasePath = "api/public/v1/";
    private readonly HttpClient http;

    public VaultApi(Uri url, string apiKey)
    {
        var root = url.AbsoluteUri.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
        http = new HttpClient { BaseAddress = new Uri(root, BasePath), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("vaultgrains-cli", "1"));
    }

    /// <summary>A client for the settings in force; fails with a hint when no key is configured.</summary>
    public static VaultApi FromProfile()
    {
        var profile = ClientProfile.Load();
        if (profile.ApiKey is null)
        {
            throw new CliException($"no API key: run 'vaultgrains login' or set {ClientProfile.ApiKeyVariable}");
        }

        return new VaultApi(profile.Url, profile.ApiKey);
    }

    public Task<ApiAnswer> GetAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, path, null, cancellationToken);

    public Task<ApiAnswer> PostAsync(string path, JsonObject? body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, path, body, cancellationToken);

    public Task<ApiAnswer> PatchAsync(string path, JsonObject body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Patch, path, body, cancellationToken);

    public Task<ApiAnswer> DeleteAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, path, null, cancellationToken);

    public void Dispose() => http.Dispose();

    private async Task<ApiAnswer> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach {http.BaseAddress}: {e.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException($"{http.BaseAddress} did not answer within {http.Timeout.TotalSeconds:0} s");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new ApiException(response.StatusCode, ErrorMessage(response.StatusCode, text));
            }

            var isJson = response.Content.Headers.ContentType?.MediaType == "application/json" && text.Length > 0;
            return new ApiAnswer(response.StatusCode, text, isJson ? JsonNode.Parse(text) : null);
        }
    }

    // The API's own message when the body is {"error":"…"}; otherwise (a proxy in the way, a wrong URL) the status.
    private static string ErrorMessage(HttpStatusCode status, string text)
    {
        try
        {
            if (JsonNode.Parse(text) is JsonObject { } error && error["error"] is JsonValue message && message.TryGetValue<string>(out var value))
            {
                return value;
            }
        }
        catch (JsonException)
        {
        }

        return $"HTTP {(int)status} {status}" + (status == HttpStatusCode.NotFound ? " (is VAULTGRAINS_URL the API's address?)" : "");
    }
}

/// <summary>One successful answer: its status, the body as the API sent it, and the body parsed when it is JSON.</summary>
public sealed record ApiAnswer(HttpStatusCode Status, string Text, JsonNode? Json)
{
    public JsonNode Body => Json ?? throw new CliException("the API answered without a JSON body");

    public JsonArray Array => Body as JsonArray ?? throw new CliException("the API answered with something other than a list");
}
