namespace VaultGrains.Proxy.Release;

/// <summary>
/// What the proxy holds for one authenticated runtime: every secret of its attached vaults that
/// it may release, in precedence order (the first vault listed wins an <c>env_key</c>). Lives only
/// in the proxy's memory.
/// </summary>
public sealed record RuntimeSecrets(string RuntimeId, string OrganizationId, IReadOnlyList<ReleasableSecret> Secrets);

/// <summary>One secret as the proxy may release it: the value only goes to a host its normalized <see cref="AllowedDomains"/> admit.</summary>
public sealed record ReleasableSecret(string VaultId, string SecretId, string EnvKey, IReadOnlyList<string> AllowedDomains, string Value)
{
    public override string ToString() => $"ReleasableSecret {{ VaultId = {VaultId}, SecretId = {SecretId}, EnvKey = {EnvKey}, Value = [redacted] }}";
}

/// <summary>
/// The proxy's view of runtimes. Answers come from the cluster and are never older than one second
/// (rotation, deletion, detach and secret changes take effect within that second).
/// </summary>
public interface IRuntimeDirectory
{
    /// <summary>
    /// The runtime's releasable secrets when <paramref name="token"/> is its current token, else null
    /// (unknown, rotated or deleted runtime, wrong token). Never throws for bad credentials.
    /// </summary>
    ValueTask<RuntimeSecrets?> AuthenticateAsync(string runtimeId, string token, CancellationToken cancellationToken);
}

/// <summary>One release decision, as a structured event: never a value.</summary>
/// <param name="Location">Where the placeholder stood: <c>path</c>, <c>query</c>, <c>header</c>, <c>authorization</c>.</param>
/// <param name="Outcome"><c>released</c> or <c>refused</c>.</param>
/// <param name="Reason">For a refusal: <c>domain_not_allowed</c>, <c>port_not_allowed</c>, <c>ip_literal</c>, <c>plain_http</c>, <c>method_not_allowed</c>, <c>invalid_header_value</c>.</param>
/// <param name="OrganizationId">The runtime's organization, whose audit trail records the event.</param>
public sealed record ReleaseEvent(
    string RuntimeId,
    string VaultId,
    string SecretId,
    string EnvKey,
    string Host,
    string Method,
    string Path,
    string Location,
    string Outcome,
    string? Reason,
    string? OrganizationId = null);

/// <summary>Where release events go (a log line and a counter today; the audit trail later).</summary>
public interface IReleaseEventSink
{
    void Record(ReleaseEvent releaseEvent);
}
