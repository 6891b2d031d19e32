using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace VaultGrains.Api;

/// <summary>
/// Turns what escapes an endpoint into the API's <c>{"error":…}</c> body: a cluster or storage
/// failure is a retryable 503, a malformed request a 400, anything else a 500 without details.
/// Bodyless 4xx answers of the framework (unknown route, wrong method) get a body too.
/// </summary>
internal sealed class ErrorBoundary(RequestDelegate next, ILogger<ErrorBoundary> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException)
        {
            return;
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            var status = e.StatusCode;
            await WriteAsync(context, ApiResults.Error(status, status == StatusCodes.Status413PayloadTooLarge ? "request body too large" : "malformed request"));
            return;
        }
        catch (Exception e) when (!context.Response.HasStarted && IsTransient(e) && MayHaveChangedSomething(context.Request, e))
        {
            // A 503 says "nothing written, send it again"; after a write that may have arrived, that
            // would be a lie (a slow Key Vault call finishes the create after the API gave up).
            logger.LogWarning("Outcome unknown for {Method} {Path}: {Error}", context.Request.Method, context.Request.Path, e.GetType().Name);
            await WriteAsync(context, ApiResults.OutcomeUnknown(context.Request));
            return;
        }
        catch (Exception e) when (!context.Response.HasStarted && IsTransient(e))
        {
            logger.LogWarning(e, "Cluster unavailable for {Method} {Path}", context.Request.Method, context.Request.Path);
            await WriteAsync(context, ApiResults.ServiceUnavailable());
            return;
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            logger.LogError(e, "Unhandled error for {Method} {Path}", context.Request.Method, context.Request.Path);
            await WriteAsync(context, ApiResults.Error(StatusCodes.Status500InternalServerError, "internal error"));
            return;
        }

        if (context.Response.StatusCode == StatusCodes.Status429TooManyRequests)
        {
            ApiMetrics.Throttled.Add(1);
        }

        if (context.Response is { StatusCode: >= 400, HasStarted: false, ContentLength: null } response && response.ContentType is null)
        {
            await WriteAsync(context, ApiResults.Error(response.StatusCode, response.StatusCode switch
            {
                StatusCodes.Status404NotFound => "not found",
                StatusCodes.Status405MethodNotAllowed => "method not allowed",
                StatusCodes.Status415UnsupportedMediaType => "unsupported media type",
                _ => "request failed",
            }));
        }
    }

    /// <summary>Failures of the cluster or its storage that a retry can cure: nothing was acknowledged.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        TimeoutException or OrleansException or SiloUnavailableException or ConnectionFailedException => true,
        Azure.RequestFailedException => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsTransient),
        _ => e.InnerException is { } inner && IsTransient(inner),
    };

    /// <summary>A change that may have reached a grain: a write whose call timed out or lost its silo, rather than one the runtime refused to deliver.</summary>
    private static bool MayHaveChangedSomething(HttpRequest request, Exception e) =>
        !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
        && Innermost(e) is var cause && !ClusterCallRetry.NeverDelivered(cause) && cause is TimeoutException or SiloUnavailableException;

    private static Exception Innermost(Exception e) => e is AggregateException { InnerExceptions: [var only] } ? Innermost(only) : e;

    private static Task WriteAsync(HttpContext context, IResult result) => result.ExecuteAsync(context);
}
