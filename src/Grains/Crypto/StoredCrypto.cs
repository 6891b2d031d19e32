namespace VaultGrains.Grains.Crypto;

/// <summary>A key in wrapped form, with the id of the key that wrapped it and the algorithm used.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.Grains.WrappedKey")]
internal sealed record WrappedKey(
    [property: Id(0)] string KeyId,
    [property: Id(1)] string Algorithm,
    [property: Id(2)] byte[] Bytes);

/// <summary>One encrypted value: its data key wrapped by the vault key, the GCM nonce, ciphertext and tag.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.Grains.EncryptedValue")]
internal sealed record EncryptedValue(
    [property: Id(0)] byte[] WrappedDataKey,
    [property: Id(1)] byte[] Nonce,
    [property: Id(2)] byte[] Ciphertext,
    [property: Id(3)] byte[] Tag);

/// <summary>What a ciphertext is bound to: moving it to another organization, vault, secret or version breaks it.</summary>
internal readonly record struct SecretBinding(string OrganizationId, string VaultId, string SecretId, int Version);
