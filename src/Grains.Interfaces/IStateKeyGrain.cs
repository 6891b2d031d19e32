namespace VaultGrains;

/// <summary>
/// The cluster's state key: the key that seals (MACs) credential records (API keys, runtime tokens) so
/// that a record edited in storage is refused. Generated once, stored only wrapped by the key-encryption
/// key; each silo unwraps it once and keeps it in memory. Key: 0 (one per service).
/// </summary>
[Alias("VaultGrains.IStateKeyGrain")]
public interface IStateKeyGrain : IGrainWithIntegerKey
{
    /// <summary>The wrapped state key, made on first call.</summary>
    [Alias("Get")]
    Task<WrappedStateKey> Get();
}

/// <summary>The state key as stored: wrapped by the key-encryption key <see cref="KeyId"/>. Useless without that key.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.WrappedStateKey")]
public sealed record WrappedStateKey(
    [property: Id(0)] string KeyId,
    [property: Id(1)] string Algorithm,
    [property: Id(2)] byte[] Bytes);

/// <summary>The credential records an organization lists: its API keys' hashes and its runtimes' ids, for the one-time sealing walk.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.CredentialRecords")]
public sealed record CredentialRecords(
    [property: Id(0)] IReadOnlyList<string> ApiKeyHashes,
    [property: Id(1)] IReadOnlyList<string> RuntimeIds);
