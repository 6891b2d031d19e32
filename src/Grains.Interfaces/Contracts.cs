namespace VaultGrains;

/// <summary>Why a vault operation was refused. The API maps each value to one status and error body.</summary>
[GenerateSerializer, Alias("VaultGrains.VaultError")]
public enum VaultError
{
    None = 0,
    VaultNotFound = 1,
    SecretNotFound = 2,
    EnvKeyExists = 3,
    VaultFull = 4,
    VaultNotEmpty = 5,
    /// <summary>The key-encryption key could not be reached or refused the operation; nothing was written.</summary>
    KeyServiceUnavailable = 6,
    /// <summary>Storage refused or lost the write, or the activation found its view stale; nothing was acknowledged. Retryable.</summary>
    Unavailable = 7,
    /// <summary>A stored ciphertext failed authentication.</summary>
    IntegrityFailure = 8,
    DomainNotAllowed = 9,
    AlreadyExists = 10,
    OrganizationNotFound = 11,
    ApiKeyNotFound = 12,
    /// <summary>An update named another <c>env_key</c> than the secret's; an <c>env_key</c> never changes.</summary>
    EnvKeyChanged = 13,
    RuntimeNotFound = 14,
    /// <summary>A vault still attached to runtimes cannot be deleted; the reply's count says to how many.</summary>
    VaultAssigned = 15,
    /// <summary>The runtime named in a release does not hold the vault (never attached, or detached).</summary>
    RuntimeNotAttached = 16,
    /// <summary>The audit trail could not record the change, so it was not made. Retryable.</summary>
    AuditUnavailable = 17,
    /// <summary>The organization holds as many vaults as its limit allows.</summary>
    VaultLimitReached = 30,
    /// <summary>The organization holds as many runtimes as its limit allows.</summary>
    RuntimeLimitReached = 31,
}

/// <summary>A secret value in transit to the vault grain. Its text never appears in <see cref="ToString"/>.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.SecretValue")]
public sealed class SecretValue(string plaintext)
{
    [Id(0)] public string Plaintext { get; } = plaintext;

    public override string ToString() => "[redacted]";
}

/// <summary>The metadata of a vault as the API returns it.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.VaultDetails")]
public sealed record VaultDetails(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] string? Description,
    [property: Id(3)] int SecretCount,
    [property: Id(4)] DateTime CreatedAt,
    [property: Id(5)] DateTime UpdatedAt);

/// <summary>The metadata of a secret: the five fields of the public secret object. Never the value.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.SecretDetails")]
public sealed record SecretDetails(
    [property: Id(0)] string Id,
    [property: Id(1)] string EnvKey,
    [property: Id(2)] IReadOnlyList<string> AllowedDomains,
    [property: Id(3)] DateTime CreatedAt,
    [property: Id(4)] DateTime UpdatedAt);

/// <summary>A vault's secrets as the public API lists them: a UTF-8 JSON array, never modified once made.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.SecretListJson")]
public sealed record SecretListJson([property: Id(0)] byte[] Utf8);

/// <summary>A request to create a vault. Names are validated by the caller.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.NewVault")]
public sealed record NewVault(
    [property: Id(0)] string OrganizationId,
    [property: Id(1)] string Name,
    [property: Id(2)] string? Description);

/// <summary>A partial update of a vault; a null member leaves that field alone.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.VaultChanges")]
public sealed record VaultChanges(
    [property: Id(0)] string? Name,
    [property: Id(1)] bool SetDescription,
    [property: Id(2)] string? Description);

/// <summary>A request to create a secret; the id is chosen by the caller, the fields are already validated and normalized.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.NewSecret")]
public sealed record NewSecret(
    [property: Id(0)] string Id,
    [property: Id(1)] string EnvKey,
    [property: Id(2)] SecretValue Value,
    [property: Id(3)] IReadOnlyList<string> AllowedDomains);

/// <summary>
/// A partial update of a secret; a null member leaves that field alone. <see cref="EnvKey"/>, when
/// given, must be the secret's own (clients that send the whole object back), since it never changes.
/// </summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.SecretChanges")]
public sealed record SecretChanges(
    [property: Id(0)] SecretValue? Value,
    [property: Id(1)] IReadOnlyList<string>? AllowedDomains,
    [property: Id(2)] string? EnvKey = null);

/// <summary>The outcome of a vault or secret operation: either a value or an error.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.VaultReply`1")]
public sealed record VaultReply<T>(
    [property: Id(0)] VaultError Error,
    [property: Id(1)] T? Value,
    [property: Id(2)] int Count = 0)
{
    public bool Succeeded => Error == VaultError.None;

    public static VaultReply<T> Ok(T value) => new(VaultError.None, value);

    public static VaultReply<T> Fail(VaultError error, int count = 0) => new(error, default, count);
}

/// <summary>
/// One secret released to a runtime that holds its vault, for the secret proxy's memory: the proxy
/// puts the value on the wire only to hosts that <see cref="AllowedDomains"/> admit.
/// </summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.ReleasedSecret")]
public sealed record ReleasedSecret(
    [property: Id(0)] string EnvKey,
    [property: Id(1)] SecretValue Value,
    [property: Id(2)] string VaultId = "",
    [property: Id(3)] string SecretId = "",
    [property: Id(4)] IReadOnlyList<string>? AllowedDomains = null);

/// <summary>An organization as the admin API returns it.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.OrganizationDetails")]
public sealed record OrganizationDetails(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] DateTime CreatedAt,
    [property: Id(3)] bool Disabled = false,
    [property: Id(4)] OrganizationLimits? Limits = null);

/// <summary>How many vaults and runtimes an organization may hold.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.OrganizationLimits")]
public sealed record OrganizationLimits(
    [property: Id(0)] int Vaults,
    [property: Id(1)] int Runtimes)
{
    public const int Maximum = 1_000_000;

    public static readonly OrganizationLimits Default = new(10_000, 1_000);
}

/// <summary>A partial update of an organization (admin <c>PATCH</c>); a null member leaves that field alone. Values are validated by the caller.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.OrganizationChanges")]
public sealed record OrganizationChanges(
    [property: Id(0)] bool? Disabled,
    [property: Id(1)] int? VaultLimit,
    [property: Id(2)] int? RuntimeLimit);

/// <summary>An API key as listed by the admin API: never the key, only its last characters.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.ApiKeyDetails")]
public sealed record ApiKeyDetails(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] string Hint,
    [property: Id(3)] DateTime CreatedAt);

/// <summary>A new API key to record; only the SHA-256 hash of the key reaches the grain.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.NewApiKey")]
public sealed record NewApiKey(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] string KeyHash,
    [property: Id(3)] string Hint);

/// <summary>Progress of a re-wrap of vault keys under the configured key-encryption key.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.RewrapOutcome")]
public sealed record RewrapOutcome(
    [property: Id(0)] bool Rewrapped,
    [property: Id(1)] string? KeyId,
    [property: Id(2)] VaultError Error);
