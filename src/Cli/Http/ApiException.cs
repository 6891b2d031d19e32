using System.Net;

namespace VaultGrains.Cli.Http;

/// <summary>The API answered with an error: its own message (<c>{"error":"…"}</c>) and status.</summary>
public sealed class ApiException(HttpStatusCode status, string message) : CliException(message)
{
    public HttpStatusCode Status { get; } = status;
}
