namespace VaultGrains.Api.Endpoints;

/// <summary><c>/healthz</c>: 200 when the cluster and storage answer, 503 otherwise.</summary>
internal static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", async (ClusterHealth health, CancellationToken cancellationToken) =>
        {
            var (cluster, storage) = await health.CheckAsync(cancellationToken);
            var healthy = cluster && storage;
            return Results.Json(
                new HealthResponse(healthy ? "healthy" : "unhealthy", cluster ? "reachable" : "unreachable", storage ? "reachable" : "unreachable"),
                ApiJson.Options,
                statusCode: healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).WithTags("Health").WithName("Health")
            .WithSummary("Health of this front end, the cluster and storage")
            .Produces<HealthResponse>()
            .Produces<HealthResponse>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }
}
