using System.Security.Cryptography;

namespace VaultGrains.Grains.Crypto;

/// <summary>The key-encryption key could not be used: the key service is unreachable, slow or refusing. Retryable.</summary>
public sealed class KeyServiceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A stored wrapped key was refused for what it is, not for where the key service is: its bytes
/// do not unwrap under the key it names, it names a key this service does not trust, or it asks
/// for an algorithm that key does not accept. Retrying cannot help. Messages carry ids, never bytes.
/// </summary>
public sealed class WrappedKeyRejectedException(string message, Exception? inner = null) : CryptographicException(message, inner);
