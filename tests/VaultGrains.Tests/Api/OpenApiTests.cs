using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Api;

/// <summary>
/// The OpenAPI document describes exactly the routes the app maps (a new route without
/// documentation fails here), with request and response schemas and the {"error"} responses;
/// the Scalar reference page is served from it.
/// </summary>
[Collection(nameof(ApiCollection))]
public sealed partial class OpenApiTests(ApiFixture fixture)
{
    private const string ErrorBodyReference = "#/components/schemas/ErrorBody";

    private async Task<JsonElement> DocumentAsync()
    {
        var response = await fixture.Client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static IEnumerable<(string Method, string Path, JsonElement Operation)> Operations(JsonElement document) =>
        from path in document.GetProperty("paths").EnumerateObject()
        from operation in path.Value.EnumerateObject()
        where operation.Name is "get" or "post" or "put" or "patch" or "delete"
        select (operation.Name.ToUpperInvariant(), path.Name, operation.Value);

    [Fact]
    public async Task The_document_lists_every_mapped_route_and_nothing_else()
    {
        var endpoints = fixture.ApiServices.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => !IsDocumentationRoute(e.RoutePattern.RawText!))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["ANY"]).Select(m => $"{m} {Normalize(e.RoutePattern.RawText!)}"))
            .Order()
            .ToArray();

        var documented = Operations(await DocumentAsync()).Select(o => $"{o.Method} {o.Path}").Order().ToArray();

        Assert.True(endpoints.Length >= 16, "the endpoint data source looks empty: the test would prove nothing");
        Assert.Equal(endpoints, documented);
    }

    [Fact]
    public async Task Every_operation_has_schemas_errors_parameters_and_security()
    {
        var document = await DocumentAsync();

        foreach (var (method, path, operation) in Operations(document))
        {
            var name = $"{method} {path}";
            Assert.False(string.IsNullOrEmpty(operation.GetProperty("operationId").GetString()), name);
            Assert.False(string.IsNullOrEmpty(operation.GetProperty("summary").GetString()), name);
            var responses = operation.GetProperty("responses").EnumerateObject().ToDictionary(r => r.Name, r => r.Value);
            var success = responses.Keys.Where(status => status.StartsWith('2')).ToArray();
            Assert.True(success.Length == 1, $"{name}: one success response expected");
            if (success[0] != "204")
            {
                Assert.True(SchemaOf(responses[success[0]]) is { } schema && (schema.TryGetProperty("$ref", out _) || schema.TryGetProperty("items", out _)), $"{name}: success body has no schema");
            }

            foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5' && path != "/healthz"))
            {
                Assert.True(RefOf(SchemaOf(response)) == ErrorBodyReference, $"{name} {status}: not documented as {{\"error\"}}");
            }

            foreach (var parameter in PathParameter().Matches(path).Select(m => m.Groups[1].Value))
            {
                Assert.Contains(operation.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == parameter && p.GetProperty("in").GetString() == "path");
            }

            // Every POST and PATCH takes a JSON body, except the operator's maintenance commands and a token rotation.
            var takesBody = method is "POST" or "PATCH" && !path.StartsWith("/api/admin/v1/maintenance/", StringComparison.Ordinal) && !path.EndsWith("/token", StringComparison.Ordinal);
            if (takesBody)
            {
                var body = operation.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema");
                var component = Component(document, RefOf(body)!);
                Assert.True(component.GetProperty("properties").EnumerateObject().Any(), $"{name}: request schema has no properties");
            }

            if (path.StartsWith("/api/", StringComparison.Ordinal))
            {
                Assert.True(responses.ContainsKey("401"), $"{name}: 401 not documented");
                if (path.Contains('{') || takesBody)
                {
                    Assert.True(responses.ContainsKey("400"), $"{name}: 400 not documented");
                }

                if (method == "POST")
                {
                    var header = operation.GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "Idempotency-Key");
                    Assert.Equal(("header", false, 255), (header.GetProperty("in").GetString(), header.TryGetProperty("required", out var required) && required.GetBoolean(), header.GetProperty("schema").GetProperty("maxLength").GetInt32()));
                    Assert.True(responses.ContainsKey("409"), $"{name}: 409 (a repeat while the first runs) not documented");
                }
                else
                {
                    Assert.False(operation.TryGetProperty("parameters", out var parameters) && parameters.EnumerateArray().Any(p => p.GetProperty("name").GetString() == "Idempotency-Key"), $"{name}: Idempotency-Key is for POST only");
                }

                var scheme = path.StartsWith("/api/public/", StringComparison.Ordinal) ? "ApiKey" : "AdminToken";
                Assert.True(operation.GetProperty("security").EnumerateArray().Single().TryGetProperty(scheme, out _), $"{name}: not secured by {scheme}");
            }
        }
    }

    [Fact]
    public async Task Schemas_match_the_wire_objects_and_the_bearer_schemes_are_described()
    {
        var document = await DocumentAsync();

        Assert.Equal(["error"], PropertyNames(Component(document, ErrorBodyReference)));
        Assert.Equal(["id", "env_key", "allowed_domains", "created_at", "updated_at"], PropertyNames(Component(document, "#/components/schemas/SecretResponse")));
        var vault = Component(document, "#/components/schemas/VaultResponse");
        Assert.Equal(["id", "name", "description", "secret_count", "created_at", "updated_at"], PropertyNames(vault));
        Assert.Equal("integer", vault.GetProperty("properties").GetProperty("secret_count").GetProperty("type").GetString());
        Assert.Equal("date-time", vault.GetProperty("properties").GetProperty("created_at").GetProperty("format").GetString());
        Assert.Equal(["id", "name", "hint", "created_at"], PropertyNames(Component(document, "#/components/schemas/ApiKeyResponse")));
        var createSecret = Component(document, "#/components/schemas/CreateSecretRequest");
        Assert.Equal(["name"], Component(document, "#/components/schemas/CreateVaultRequest").GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.False(Component(document, "#/components/schemas/UpdateSecretRequest").TryGetProperty("required", out _));
        Assert.Equal(["env_key", "value", "allowed_domains"], PropertyNames(createSecret));
        Assert.Equal(["env_key", "value"], createSecret.GetProperty("required").EnumerateArray().Select(e => e.GetString()).Order());
        Assert.Equal(["value", "allowed_domains", "env_key"], PropertyNames(Component(document, "#/components/schemas/UpdateSecretRequest")));
        Assert.Equal(["name", "description"], PropertyNames(Component(document, "#/components/schemas/CreateVaultRequest")));
        Assert.Equal(["id", "name", "created_at", "disabled", "limits"], PropertyNames(Component(document, "#/components/schemas/OrganizationResponse")));
        Assert.Equal(["disabled", "limits"], PropertyNames(Component(document, "#/components/schemas/UpdateOrganizationRequest")));
        Assert.Equal(["vaults", "runtimes"], PropertyNames(Component(document, "#/components/schemas/OrganizationLimitsRequest")));

        foreach (var scheme in new[] { "ApiKey", "AdminToken" })
        {
            var definition = document.GetProperty("components").GetProperty("securitySchemes").GetProperty(scheme);
            Assert.Equal(("http", "bearer"), (definition.GetProperty("type").GetString(), definition.GetProperty("scheme").GetString()));
        }
    }

    [Fact]
    public async Task The_reference_page_is_served_with_its_script_and_points_at_the_document()
    {
        var redirect = await fixture.Client.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        var target = new Uri(new Uri(fixture.Client.BaseAddress!, "/docs"), redirect.Headers.Location!);
        Assert.Equal("/docs/", target.AbsolutePath);

        var page = await fixture.Client.GetAsync(target);
        var html = await page.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        // scalar.aspnetcore.js resolves the source against the site root (the page path minus "/docs/").
        Assert.True(html.Contains("\"url\":\"openapi/v1.json\"", StringComparison.Ordinal), html);
        var scripts = ScriptSource().Matches(html).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(["scalar.js", "scalar.aspnetcore.js"], scripts);
        foreach (var script in scripts)
        {
            var asset = await fixture.Client.GetAsync(new Uri(target, script));
            Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
            Assert.True((await asset.Content.ReadAsByteArrayAsync()).Length > 1_000, $"{script} is missing");
        }
    }

    private static bool IsDocumentationRoute(string pattern) =>
        pattern == "/openapi/{documentName}.json" || pattern == "/docs" || pattern.StartsWith("/docs/", StringComparison.Ordinal);

    private static string Normalize(string pattern) => pattern.Length > 1 ? pattern.TrimEnd('/') : pattern;

    private static JsonElement? SchemaOf(JsonElement response) =>
        response.TryGetProperty("content", out var content) && content.TryGetProperty("application/json", out var json) && json.TryGetProperty("schema", out var schema)
            ? schema
            : null;

    private static string? RefOf(JsonElement? schema) =>
        schema is { } s && s.TryGetProperty("$ref", out var reference) ? reference.GetString() : null;

    private static JsonElement Component(JsonElement document, string reference) =>
        document.GetProperty("components").GetProperty("schemas").GetProperty(reference["#/components/schemas/".Length..]);

    private static string[] PropertyNames(JsonElement schema) => schema.GetProperty("properties").EnumerateObject().Select(p => p.Name).ToArray();

    [GeneratedRegex(@"\{([a-z_]+)\}")]
    private static partial Regex PathParameter();

    [GeneratedRegex("<script[^>]+src=\"([^\"]+)\"")]
    private static partial Regex ScriptSource();
}
