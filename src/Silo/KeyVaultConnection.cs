using Azure.Core;
using Azure.Core.Pipeline;

namespace VaultGrains.Silo;

/// <summary>
/// How the silo reaches Key Vault: the token credential (<c>DefaultAzureCredential</c> unless one is
/// registered) and, for tests against a stand-in, the HTTP transport.
/// </summary>
public sealed record KeyVaultConnection(TokenCredential Credential, HttpPipelineTransport? Transport = null);
