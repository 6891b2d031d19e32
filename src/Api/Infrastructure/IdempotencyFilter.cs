using System.Buffers;
using System.Security.Cryptography;
using VaultGrains.Domain;

namespace VaultGrains.Api;

/// <summary>
/// <c>Idempotency-Key</c> on every POST (API.md): the same key and body from the same caller within
/// 24 hours gets the first answer again without running twice, also when the repeats arrive
/// together (they wait for the first); the same key with another request gets a 400. The record
/// lives in an <see cref="IIdempotencyGrain"/>, so every front end sees it and it survives restarts.
/// <para>
/// Kept: 2xx and 4xx answers (what the request did or why it was refused, both final), except 408
/// and 429, which say "later". Not kept, and the key freed: a 5xx returned by a handler (the API's
/// 5xx answers mean nothing was written, so a retry must be free to run), a 408 or 429. Not kept
/// either: an exception (outcome unknown: the
/// record keeps the request's seed, and the retry runs again with the same ids, so it finds what the
/// lost attempt did instead of doing it twice).
/// </para>
/// </summary>
internal sealed class IdempotencyFilter(IGrainFactory grains, ILogger<IdempotencyFilter> logger)
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxKeyLength = 255;
    public const string MalformedKey = "Idempotency-Key must be 1 to 255 printable ASCII characters";
    public const string Mismatch = "idempotency key reused with a different request";
    public const string StillRunning = "a request with this Idempotency-Key is still in progress";
    public const string AdminScope = "admin";

    /// <summary>How long a repeat waits for the first attempt before it is told to come back (409).</summary>
    public static readonly TimeSpan WaitBound = TimeSpan.FromSeconds(30);

    // One wait call: well inside the API's per-call timeout (ClusterCalls:Timeout, at least 0.5 s).
    private static readonly TimeSpan WaitSlice = TimeSpan.FromMilliseconds(400);

    /// <summary>For the public API: keys are the caller's organization's.</summary>
    public ValueTask<object?> FilterPublicAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        FilterAsync(context, next, ApiKeyAuthentication.CallerOrganization);

    /// <summary>For the admin API: keys are the admin's.</summary>
    public ValueTask<object?> FilterAdminAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        FilterAsync(context, next, _ => AdminScope);

    internal static bool IsWellFormed(string? key) =>
        key is { Length: > 0 and <= MaxKeyLength } && key.All(c => c is >= ' ' and <= '~');

    private async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next, Func<HttpContext, string> scopeOf)
    {
        var http = context.HttpContext;
        if (!HttpMethods.IsPost(http.Request.Method) || !http.Request.Headers.TryGetValue(Header, out var values))
        {
            return await next(context);
        }

        if (values.Count != 1 || !IsWellFormed(values[0]))
        {
            return ApiResults.BadRequest(MalformedKey);
        }

        var body = await ReadBodyAsync(http.Request);
        if (body is null)
        {
            // Over the size limit: the handler refuses it, and there is nothing to repeat.
            return await next(context);
        }

        var keys = IdempotencyKeys.Derive(values[0]!, scopeOf(http));
        var grain = grains.ReferenceTo<IIdempotencyGrain>(keys.GrainKey);
        var request = new IdempotentRequest(
            Guid.NewGuid(),
            keys.Fingerprint(http.Request.Method, http.Request.Path + http.Request.QueryString, body),
            keys.Seal(RandomNumberGenerator.GetBytes(32), "seed"));

        IdempotencyDecision decision;
        try
        {
            decision = await BeginAsync(grain, request);
        }
        catch (Exception e) when (ErrorBoundary.IsTransient(e))
        {
            // Nothing ran: the request may be sent again as it is.
            logger.LogWarning("Idempotency record unavailable: {Error}", e.GetType().Name);
            return ApiResults.ServiceUnavailable();
        }

        switch (decision.Outcome)
        {
            case IdempotencyOutcome.Mismatch:
                return ApiResults.BadRequest(Mismatch);
            case IdempotencyOutcome.InProgress:
                http.Response.Headers.RetryAfter = "1";
                return ApiResults.Error(StatusCodes.Status409Conflict, StillRunning);
            case IdempotencyOutcome.Replay:
                var response = decision.Response!;
                var replayed = keys.Open(response.SealedBody, BodyPurpose(response.Status, response.ContentType));
                if (replayed is null)
                {
                    logger.LogError("Idempotency record {Key} failed its integrity check: its answer was changed in storage", keys.GrainKey);
                    return ApiResults.Error(StatusCodes.Status500InternalServerError, "idempotency record failed its integrity check");
                }

                return new RecordedResult(response.Status, response.ContentType, replayed, Replayed: true);
        }

        var seed = decision.SealedSeed is { } sealedSeed ? keys.Open(sealedSeed, "seed") : null;
        if (seed is null)
        {
            logger.LogError("Idempotency record {Key} failed its integrity check: its seed was changed in storage", keys.GrainKey);
            await ReleaseAsync(grain, request.Attempt, nothingWritten: true);
            return ApiResults.Error(StatusCodes.Status500InternalServerError, "idempotency record failed its integrity check");
        }

        http.Features.Set(new ResourceMinter(seed, new DateTimeOffset(decision.FirstAttemptAt, TimeSpan.Zero), decision.EarlierAttemptMayHaveRun));
        object? result;
        try
        {
            result = await next(context);
        }
        catch
        {
            await ReleaseAsync(grain, request.Attempt, nothingWritten: false);
            throw;
        }

        if (result is not IResult answer || !IsKept(answer))
        {
            await ReleaseAsync(grain, request.Attempt, nothingWritten: result is IStatusCodeHttpResult { StatusCode: >= 500 or StatusCodes.Status408RequestTimeout or StatusCodes.Status429TooManyRequests });
            return result;
        }

        var recorded = await RecordAsync(http, answer);
        try
        {
            await grain.Complete(request.Attempt, new IdempotentResponse(recorded.Status, recorded.ContentType,
                keys.Seal(recorded.Body, BodyPurpose(recorded.Status, recorded.ContentType))));
        }
        catch (Exception e) when (ErrorBoundary.IsTransient(e))
        {
            // The caller still gets its answer. A repeat finds the attempt running, then (after the
            // lease) runs again with the same ids and gets the same resources back.
            logger.LogWarning("Idempotency record {Key}: answer not kept: {Error}", keys.GrainKey, e.GetType().Name);
        }

        return recorded;
    }

    private static async Task<IdempotencyDecision> BeginAsync(IIdempotencyGrain grain, IdempotentRequest request)
    {
        var deadline = Environment.TickCount64 + (long)WaitBound.TotalMilliseconds;
        while (true)
        {
            var decision = await grain.Begin(request);
            if (decision.Outcome != IdempotencyOutcome.InProgress || Environment.TickCount64 >= deadline)
            {
                return decision;
            }

            await grain.WaitForOutcome(WaitSlice);
        }
    }

    private async Task ReleaseAsync(IIdempotencyGrain grain, Guid attempt, bool nothingWritten)
    {
        try
        {
            await grain.Release(attempt, nothingWritten);
        }
        catch (Exception e) when (ErrorBoundary.IsTransient(e))
        {
            // The claim lapses with its lease; a repeat then runs again with the same ids.
            logger.LogWarning("Idempotency record: attempt not released: {Error}", e.GetType().Name);
        }
    }

    private static bool IsKept(IResult answer) =>
        answer is not IStatusCodeHttpResult { StatusCode: >= 500 or StatusCodes.Status408RequestTimeout or StatusCodes.Status429TooManyRequests };

    // The status and content type are bound to the sealed body, so storage cannot pair a body with another status.
    private static string BodyPurpose(int status, string? contentType) => $"body\n{status}\n{contentType}";

    /// <summary>The whole body, left readable for the handler; null when it is over the API's limit.</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request)
    {
        if (request.ContentLength > SecretRules.MaxRequestBodyBytes)
        {
            return null;
        }

        request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: SecretRules.MaxRequestBodyBytes + 1);
        var buffer = new ArrayBufferWriter<byte>(4096);
        try
        {
            while (true)
            {
                var read = await request.Body.ReadAsync(buffer.GetMemory(8192), request.HttpContext.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > SecretRules.MaxRequestBodyBytes)
                {
                    return null;
                }
            }
        }
        catch (IOException)
        {
            // Past the buffer limit, or a body Kestrel itself refused: the handler answers for it.
            return null;
        }
        finally
        {
            request.Body.Position = 0;
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Runs the handler's answer into memory: status, content type and body, to keep and to send.</summary>
    private static async Task<RecordedResult> RecordAsync(HttpContext http, IResult answer)
    {
        var capture = new DefaultHttpContext { RequestServices = http.RequestServices };
        using var body = new MemoryStream();
        capture.Response.Body = body;
        await answer.ExecuteAsync(capture);
        return new RecordedResult(capture.Response.StatusCode, capture.Response.ContentType, body.ToArray(), Replayed: false);
    }

    /// <summary>An answer as it was first given; a replay is marked with <c>Idempotent-Replayed: true</c>.</summary>
    private sealed record RecordedResult(int Status, string? ContentType, byte[] Body, bool Replayed) : IResult, IStatusCodeHttpResult
    {
        int? IStatusCodeHttpResult.StatusCode => Status;

        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = Status;
            if (ContentType is not null)
            {
                httpContext.Response.ContentType = ContentType;
            }

            if (Replayed)
            {
                httpContext.Response.Headers[ReplayedHeader] = "true";
            }

            httpContext.Response.ContentLength = Body.Length;
            await httpContext.Response.Body.WriteAsync(Body, httpContext.RequestAborted);
        }
    }
}
