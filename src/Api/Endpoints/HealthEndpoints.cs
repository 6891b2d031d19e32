namespace VaultGrains.Api.Endpoints;

/// <summary><c>/healthz</c>: 200 when the cluster and storage answer, 503 otherwise; <c>/readyz</c> and <c>/livez</c> for probes.</summary>
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

        // For orchestrators. Readiness ignores storage: during a storage outage this front end
        // still answers (503 with Retry-After, reads of active vaults), which beats taking every
        // replica out of the load balancer. Liveness only asks whether the process answers.
        app.MapGet("/readyz", async (ClusterHealth health, CancellationToken cancellationToken) =>
        {
            var (cluster, _) = await health.CheckAsync(cancellationToken);
            return cluster ? ApiResults.Ok(new ProbeResponse("ready")) : ApiResults.ServiceUnavailable();
        }).WithTags("Health").WithName("Ready")
            .WithSummary("Readiness: this front end reaches the cluster")
            .Produces<ProbeResponse>()
            .ProducesErrors(503);
        app.MapGet("/livez", () => ApiResults.Ok(new ProbeResponse("alive"))).WithTags("Health").WithName("Alive")
            .WithSummary("Liveness: the process answers")
            .Produces<ProbeResponse>();
        return app;
    }
}
