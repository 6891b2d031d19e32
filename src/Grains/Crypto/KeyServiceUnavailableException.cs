namespace VaultGrains.Grains.Crypto;

/// <summary>The key-encryption key could not be used: the key service is unreachable, slow or refusing.</summary>
public sealed class KeyServiceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
