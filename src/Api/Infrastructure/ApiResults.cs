namespace VaultGrains.Api;

/// <summary>The API's responses and the one mapping from a grain's <see cref="VaultError"/> to a status and body.</summary>
internal static class ApiResults
{
    public const string Unavailable = "service temporarily unavailable";
    public const string EnvKeyCannotChange = "env_key cannot be changed";

    public static IResult Error(int status, string message) => Results.Json(new ErrorBody(message), ApiJson.Options, statusCode: status);

    public static IResult BadRequest(string message) => Error(StatusCodes.Status400BadRequest, message);

    public static IResult Ok<T>(T body, int status = StatusCodes.Status200OK) => Results.Json(body, ApiJson.Options, statusCode: status);

    /// <summary>200 with a JSON body that is already encoded (the same content type as <see cref="Ok{T}"/>).</summary>
    public static IResult Utf8Json(byte[] body) => Results.Bytes(body, "application/json; charset=utf-8");

    public static IResult ServiceUnavailable(string message = Unavailable) => new RetryableErrorResult(message);

    /// <summary>
    /// 503 for a change whose call outlived the API's deadline: it may have been made. A POST
    /// repeated with the same Idempotency-Key runs with the same ids and gets the real answer; a
    /// POST without one would run again; a PATCH or DELETE can simply be sent again.
    /// </summary>
    public static IResult OutcomeUnknown(HttpRequest request) => new RetryableErrorResult(
        !HttpMethods.IsPost(request.Method) ? "outcome unknown: the change may have been made; send the request again to get its answer"
        : request.Headers.ContainsKey(IdempotencyFilter.Header) ? "outcome unknown: the change may have been made; send the request again with the same Idempotency-Key to get its answer"
        : "outcome unknown: the change may have been made; check before sending it again (with an Idempotency-Key a repeat gets the real answer)");

    public static IResult From(VaultError error, int count = 0) => error switch
    {
        VaultError.VaultNotFound => Error(StatusCodes.Status404NotFound, "vault not found"),
        VaultError.SecretNotFound => Error(StatusCodes.Status404NotFound, "secret not found"),
        VaultError.OrganizationNotFound => Error(StatusCodes.Status404NotFound, "organization not found"),
        VaultError.ApiKeyNotFound => Error(StatusCodes.Status404NotFound, "api key not found"),
        VaultError.RuntimeNotFound => Error(StatusCodes.Status404NotFound, "runtime not found"),
        VaultError.VaultAssigned => BadRequest($"cannot delete vault: still assigned to {count} agent(s)"),
        VaultError.EnvKeyExists => BadRequest("env_key already exists in this vault"),
        VaultError.EnvKeyChanged => BadRequest(EnvKeyCannotChange),
        VaultError.VaultFull => BadRequest("vault is full"),
        VaultError.VaultNotEmpty => BadRequest($"cannot delete vault: vault still contains {count} secret(s)"),
        VaultError.VaultLimitReached => BadRequest("organization vault limit reached"),
        VaultError.RuntimeLimitReached => BadRequest("organization runtime limit reached"),
        VaultError.AlreadyExists => Error(StatusCodes.Status409Conflict, "resource already exists"),
        VaultError.KeyServiceUnavailable => ServiceUnavailable("key service unavailable"),
        VaultError.AuditUnavailable => ServiceUnavailable("audit trail unavailable"),
        VaultError.DomainNotAllowed => Error(StatusCodes.Status403Forbidden, "destination not allowed for this secret"),
        VaultError.IntegrityFailure => Error(StatusCodes.Status500InternalServerError, "secret failed its integrity check"),
        _ => ServiceUnavailable(),
    };

    /// <summary>503 with <c>Retry-After</c>: the same request may be sent again.</summary>
    private sealed class RetryableErrorResult(string message) : IResult, IStatusCodeHttpResult
    {
        public int? StatusCode => StatusCodes.Status503ServiceUnavailable;

        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.RetryAfter = "1";
            return Error(StatusCodes.Status503ServiceUnavailable, message).ExecuteAsync(httpContext);
        }
    }
}
