namespace VaultGrains;

/// <summary>
/// Who did something: <c>api_key</c> (with the key id), <c>runtime</c> (with the runtime id), <c>admin</c>,
/// or, for failed authentications, <c>address</c> (with the client address, or <c>other</c>).
/// </summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.AuditActor")]
public sealed record AuditActor(
    [property: Id(0)] string Type,
    [property: Id(1)] string? Id)
{
    public const string ApiKey = "api_key";
    public const string Runtime = "runtime";
    public const string Admin = "admin";
    public const string Service = "service";

    /// <summary>A client address, for what is known only by where it came from (a failed authentication).</summary>
    public const string Address = "address";

    /// <summary>A change the service made by itself (a lazy re-wrap, for example).</summary>
    public static readonly AuditActor ServiceItself = new(Service, null);

    // Carried with every grain call a request makes (Orleans' RequestContext flows across calls),
    // so the grain that records a change knows who asked without a parameter on every method.
    private const string RequestContextKey = "vaultgrains.actor";

    /// <summary>The caller of the current grain call, as the front end set it; <see cref="ServiceItself"/> when none did.</summary>
    public static AuditActor Current =>
        Orleans.Runtime.RequestContext.Get(RequestContextKey) is string text && text.Split(':', 2) is [var type, var id]
            ? new AuditActor(type, id.Length == 0 ? null : id)
            : ServiceItself;

    /// <summary>Sets who makes the grain calls that follow in this async flow.</summary>
    public void MakeCurrent() => Orleans.Runtime.RequestContext.Set(RequestContextKey, $"{Type}:{Id}");
}

/// <summary>
/// One thing that happened, as its grain or the API reports it to the trail; the trail gives it an
/// id, a time and its place in the organization's hash chain. Never a value, a token or a key.
/// </summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.AuditEntry")]
public sealed record AuditEntry(
    [property: Id(0)] AuditActor Actor,
    [property: Id(1)] string Action,
    [property: Id(2)] string Outcome,
    [property: Id(3)] int Status,
    [property: Id(4)] AuditResource Resource,
    [property: Id(5)] IReadOnlyDictionary<string, string>? Detail = null)
{
    public const string Success = "success";
    public const string Denied = "denied";
    public const string Error = "error";
}

/// <summary>
/// A vault's event with the id the vault gave it: written inside the vault's own log record with
/// the change it describes, and copied into the organization's chain after. The id makes the copy
/// idempotent: a chain that already holds it skips it.
/// </summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.StagedAuditEvent")]
public sealed record StagedAuditEvent(
    [property: Id(0)] string Id,
    [property: Id(1)] AuditEntry Entry);

/// <summary>What an event is about; absent members are left out of the event.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.AuditResource")]
public sealed record AuditResource(
    [property: Id(0)] string? VaultId = null,
    [property: Id(1)] string? SecretId = null,
    [property: Id(2)] string? EnvKey = null,
    [property: Id(3)] string? RuntimeId = null,
    [property: Id(4)] string? KeyId = null);

/// <summary>A page of an organization's trail: events newest first, each as its stored JSON (with <c>hash</c>).</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.AuditPage")]
public sealed record AuditPage(
    [property: Id(0)] IReadOnlyList<string> Events,
    [property: Id(1)] string? Next);

/// <summary>Which events to read: newest first, at most <see cref="Limit"/>, older than <see cref="Before"/>, not older than <see cref="Since"/>.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.AuditQuery")]
public sealed record AuditQuery(
    [property: Id(0)] int Limit,
    [property: Id(1)] string? Before = null,
    [property: Id(2)] string? VaultId = null,
    [property: Id(3)] string? Action = null,
    [property: Id(4)] DateTime? Since = null);

/// <summary>The outcome of checking an organization's hash chain.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.AuditVerification")]
public sealed record AuditVerification(
    [property: Id(0)] int Verified,
    [property: Id(1)] string? FirstBroken,
    [property: Id(2)] VaultError Error = VaultError.None);

/// <summary>
/// An organization's audit trail: append-only, hash-chained, in Azure Storage. Events from every
/// grain of the organization are written together (a group commit). An append returns only once its
/// events are durable; a vault stages its events instead, having written them in its own log record.
/// Key: the organization id.
/// </summary>
[Alias("VaultGrains.IAuditTrailGrain")]
public interface IAuditTrailGrain : IGrainWithStringKey
{
    /// <summary>Records the entries; <see cref="VaultError.None"/> once they are durable, <see cref="VaultError.AuditUnavailable"/> when they could not be written (the caller must not make the change).</summary>
    [Alias("Append")]
    Task<VaultError> Append(IReadOnlyList<AuditEntry> entries);

    /// <summary>
    /// Takes a vault's events into the chain's next write. The vault writes the same events in its
    /// own log record before it acknowledges the change, so they are durable without waiting for
    /// the chain: <see cref="VaultError.None"/> means taken (written within <c>Audit:WriteDelay</c>),
    /// and the vault then watches for them with <see cref="AwaitWritten"/>. While the trail cannot
    /// write, this waits for the write itself and answers <see cref="VaultError.AuditUnavailable"/> if
    /// it fails, so the vault refuses the change; <paramref name="untilWritten"/> asks for that always
    /// (a deletion, whose log will not outlive it). <paramref name="again"/> says the events were staged
    /// before (a redelivery): those whose id the chain already holds are skipped.
    /// <paramref name="writtenMeanwhile"/> says the vault is writing them without waiting for this
    /// answer (it is busy, and the trail took its previous batch moments ago): they are taken even
    /// while the trail is failing (kept, and written once it can), and the answer only says whether
    /// the vault's next batch may do the same (<see cref="VaultError.AuditUnavailable"/>: it waits).
    /// </summary>
    [Alias("Stage")]
    Task<VaultError> Stage(string vaultId, IReadOnlyList<StagedAuditEvent> events, bool untilWritten, bool again, bool writtenMeanwhile);

    /// <summary>
    /// Completes once every listed event is written to the chain: <see cref="VaultError.None"/>, or
    /// <see cref="VaultError.AuditUnavailable"/> when a write failed or this activation does not hold
    /// one of them (an earlier activation took it and was lost): the vault stages them again.
    /// <paramref name="now"/> writes them at once instead of after <c>Audit:WriteDelay</c> (someone waits).
    /// </summary>
    [Alias("AwaitWritten")]
    Task<VaultError> AwaitWritten(IReadOnlyList<string> eventIds, bool now);

    /// <summary>Reads events newest first.</summary>
    [Alias("Query")]
    Task<VaultReply<AuditPage>> Query(AuditQuery query);

    /// <summary>Checks the hash chain of everything retained.</summary>
    [Alias("Verify")]
    Task<AuditVerification> Verify();

    /// <summary>Deletes whole segments older than the retention window (also done hourly); returns how many.</summary>
    [Alias("ApplyRetention")]
    Task<int> ApplyRetention();
}
