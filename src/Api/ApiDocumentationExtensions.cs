using System.Text.Json.Serialization;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace VaultGrains.Api;

/// <summary>
/// The OpenAPI document (<c>/openapi/v1.json</c>) and the browsable reference (<c>/docs</c>, Scalar).
/// Both are served in every environment: they describe a public API and hold no data.
/// </summary>
public static class ApiDocumentationExtensions
{
    public const string DocumentPath = "/openapi/v1.json";
    public const string ReferencePath = "/docs";
    internal const string ApiKeyScheme = "ApiKey";
    internal const string AdminTokenScheme = "AdminToken";

    public static WebApplicationBuilder AddVaultOpenApi(this WebApplicationBuilder builder)
    {
        // The schemas are generated from these options: make them say what ApiJson writes (numbers as numbers).
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.NumberHandling = JsonNumberHandling.Strict);
        builder.Services.AddOpenApi("v1", options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "VaultGrains API",
                    Version = "v1",
                    Description = """
                        Secrets vault, wire-compatible with the Nairi public API for vaults and vault secrets.

                        Public API (`/api/public/v1`): `Authorization: Bearer nr_…` (an API key of one organization).
                        Admin API (`/api/admin/v1`): `Authorization: Bearer <admin token>` (the operator's `VAULT_ADMIN_TOKEN`).

                        Every error is `{"error":"<message>"}`. A secret value is never returned by any endpoint.
                        Every POST takes an optional `Idempotency-Key` header: a repeat gets the first answer again.
                        """,
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "An organization's API key (`nr_…`), created once through the admin API.",
                };
                document.Components.SecuritySchemes[AdminTokenScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "The operator's admin token (`VAULT_ADMIN_TOKEN` or `Admin:Token`). Not an API key.",
                };

                // The generator names the server after the request ("http://host:port/"); paths
                // start with "/", so the trailing slash would double it (Redocly: no-server-trailing-slash).
                foreach (var server in document.Servers ?? [])
                {
                    server.Url = server.Url?.TrimEnd('/') is { Length: > 0 } trimmed ? trimmed : server.Url;
                }

                return Task.CompletedTask;
            });
            options.AddSchemaTransformer((schema, context, _) =>
            {
                if (context.JsonPropertyInfo?.Name is "created_at" or "updated_at")
                {
                    schema.Format = "date-time";
                    schema.Description = "UTC, always three fractional digits: YYYY-MM-DDTHH:MM:SS.fffZ.";
                }

                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                var path = "/" + context.Description.RelativePath;
                var scheme = path.StartsWith("/api/public/", StringComparison.Ordinal) ? ApiKeyScheme
                    : path.StartsWith("/api/admin/", StringComparison.Ordinal) ? AdminTokenScheme
                    : null;
                operation.Security ??= [];
                if (scheme is not null)
                {
                    operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [] });
                }
                else
                {
                    // The health probes: an explicitly anonymous operation (an empty requirement),
                    // rather than one whose security a reader or linter must guess.
                    operation.Security.Add(new OpenApiSecurityRequirement());
                }

                if (scheme is not null && context.Description.HttpMethod == HttpMethods.Post)
                {
                    DocumentIdempotencyKey(operation, context.Document);
                }

                return Task.CompletedTask;
            });
        });
        return builder;
    }

    public static WebApplication MapVaultOpenApi(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapScalarApiReference(ReferencePath, options => options
            .WithTitle("VaultGrains API reference")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json")
            .AddPreferredSecuritySchemes(ApiKeyScheme)
            .PreserveSchemaPropertyOrder()
            // Nothing leaves the page but the calls a reader makes: no AI agent, telemetry or web fonts.
            .DisableAgent()
            .DisableMcp()
            .DisableTelemetry()
            .DisableDefaultFonts());
        return app;
    }

    /// <summary>The optional <c>Idempotency-Key</c> header every POST takes, and the 409 a repeat gets while the first still runs.</summary>
    private static void DocumentIdempotencyKey(OpenApiOperation operation, OpenApiDocument? document)
    {
        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = IdempotencyFilter.Header,
            In = ParameterLocation.Header,
            Required = false,
            Description = "Optional, 1 to 255 printable ASCII characters (a random UUID is a good choice). The same key and the same request "
                + "(method, path and body bytes) within 24 hours get the first answer again (2xx or 4xx), marked `Idempotent-Replayed: true`, "
                + "without running twice, also when sent at the same time. The same key with another request: 400 "
                + $"`{IdempotencyFilter.Mismatch}`. A repeat that waited {IdempotencyFilter.WaitBound.TotalSeconds:0} s for the first: 409. "
                + "After a 503 `outcome unknown…`, repeating with the same key gets the real answer. Keys are per organization (admin: per admin token).",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = IdempotencyFilter.MaxKeyLength, Pattern = "^[ -~]+$" },
        });
        operation.Responses ??= [];
        operation.Responses.TryAdd("409", new OpenApiResponse
        {
            Description = $"`{IdempotencyFilter.StillRunning}` (with `Retry-After`).",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference(nameof(ErrorBody), document) },
            },
        });
    }

    /// <summary>Documents the <c>{"error":…}</c> responses an endpoint can give.</summary>
    internal static RouteHandlerBuilder ProducesErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Produces<ErrorBody>(status, "application/json");
        }

        return builder;
    }
}
