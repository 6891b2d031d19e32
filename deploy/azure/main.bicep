// VaultGrains on Azure: everything deploy/k8s needs, with no key, connection string or password
// anywhere. Deploy into an empty resource group (README "Deploying to Azure"):
//   az deployment group create -g vaultgrains -f deploy/azure/main.bicep -p adminToken=<16+ chars>
// then fill the REPLACE-… placeholders of deploy/k8s from the outputs.
//
// Hosting is AKS rather than Container Apps: the manifests in deploy/k8s (PodDisruptionBudgets,
// NetworkPolicy for the proxy's egress, 40 s termination grace for the silo hand-over, silo-to-silo
// TCP on arbitrary ports, the Secrets Store CSI driver) are what operators run already; Container
// Apps would need a second description of the same service.
//
// Scopes are the narrowest that work (a test compiles this file and checks every assignment):
//   silo:  Storage Blob Data Contributor + Storage Table Data Contributor on the account (Orleans
//          creates its containers and tables at start, which needs the account scope), and
//          Key Vault Crypto User on the key-encryption key only (wrapKey/unwrapKey, no other key);
//   api:   Storage Table Data Reader on the membership table, Storage Blob Data Reader on the
//          vaults container (the /healthz probe), Key Vault Secrets User on the admin-token secret;
//   proxy: Storage Table Data Reader on the membership table;
//   AKS kubelet: AcrPull on the registry.
// Nothing here is granted at the resource group or subscription.

targetScope = 'resourceGroup'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Short lower-case name used to derive resource names (3-11 letters and digits).')
@minLength(3)
@maxLength(11)
param name string = 'vaultgrains'

@description('Storage:Prefix of the service (containers <prefix>-vaults, <prefix>-organizations; tables <prefix>apikeys, <prefix>runtimes, <prefix>idempotency, <prefix>cluster).')
@minLength(3)
@maxLength(31)
param storagePrefix string = 'vaultgrains'

@description('The admin API bearer token, stored as the Key Vault secret the API reads through the Secrets Store CSI driver (at least 16 characters).')
@secure()
@minLength(16)
param adminToken string

@description('Kubernetes namespace of the workloads (deploy/k8s/namespace.yaml).')
param namespace string = 'vaultgrains'

@description('Size of the key-encryption key. RSA-HSM keys live in the vault\'s HSMs (Premium SKU). For a dedicated FIPS 140-3 Level 3 Managed HSM instead, see README "Deploying to Azure".')
@allowed([3072, 4096])
param keySize int = 3072

@description('AKS node size and count (three nodes spread the three silos over zones).')
param nodeVmSize string = 'Standard_D4ds_v5'
@minValue(3)
param nodeCount int = 3

var suffix = uniqueString(resourceGroup().id, name)
var adminSecretName = 'vaultgrains-admin-token'
var keyName = 'vaultgrains-kek'

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageTableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}

// The three workloads of deploy/k8s, each its own identity federated with its service account.
var workloads = ['silo', 'api', 'proxy']

// ---- Storage: grain state (blobs), API keys, runtimes and cluster membership (tables) ----

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('${name}${suffix}', 24)
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    // Entra ID only: no account key, no SAS signed with it, no connection string.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    accessTier: 'Hot'
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    // A vault blob overwritten or deleted by mistake can be brought back for a week.
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource vaultsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: '${storagePrefix}-vaults'
}

resource organizationsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: '${storagePrefix}-organizations'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource membershipTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: '${storagePrefix}cluster'
}

resource apiKeyTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: '${storagePrefix}apikeys'
}

resource runtimeTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: '${storagePrefix}runtimes'
}

resource idempotencyTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: '${storagePrefix}idempotency'
}

// ---- Key Vault: the key-encryption key and the admin token ----

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${name}-${suffix}', 24)
  location: location
  properties: {
    tenantId: tenant().tenantId
    // Premium: the key is an HSM-protected key (RSA-HSM).
    sku: { family: 'A', name: 'premium' }
    // Azure RBAC, so access can be scoped to one key or one secret (access policies cannot).
    enableRbacAuthorization: true
    // A deleted vault or key stays recoverable for 90 days and nobody can purge it early: losing
    // the KEK loses every secret value.
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource kek 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: keyVault
  name: keyName
  properties: {
    kty: 'RSA-HSM'
    keySize: keySize
    // Only what envelope encryption does with it: wrap and unwrap vault keys.
    keyOps: ['wrapKey', 'unwrapKey']
    attributes: { enabled: true, exportable: false }
  }
}

resource adminSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: adminSecretName
  properties: {
    value: adminToken
    contentType: 'text/plain'
  }
}

// ---- Container registry and AKS with workload identity ----

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: take('${name}${suffix}', 50)
  location: location
  sku: { name: 'Standard' }
  properties: {
    adminUserEnabled: false
  }
}

resource aks 'Microsoft.ContainerService/managedClusters@2024-09-01' = {
  name: '${name}-aks'
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    dnsPrefix: '${name}-${suffix}'
    // Workload identity: the OIDC issuer signs service-account tokens that Entra ID trusts through
    // the federated credentials below; the webhook projects them into pods labelled
    // azure.workload.identity/use=true (deploy/k8s).
    oidcIssuerProfile: { enabled: true }
    securityProfile: { workloadIdentity: { enabled: true } }
    // Entra ID sign-in and Azure RBAC for kubectl; no local admin account.
    disableLocalAccounts: true
    aadProfile: { managed: true, enableAzureRBAC: true }
    enableRBAC: true
    agentPoolProfiles: [
      {
        name: 'system'
        mode: 'System'
        osType: 'Linux'
        vmSize: nodeVmSize
        count: nodeCount
        availabilityZones: ['1', '2', '3']
      }
    ]
    // Cilium enforces the proxy's egress NetworkPolicy (deploy/k8s/proxy.yaml).
    networkProfile: {
      networkPlugin: 'azure'
      networkPluginMode: 'overlay'
      networkDataplane: 'cilium'
      networkPolicy: 'cilium'
    }
    addonProfiles: {
      // The Secrets Store CSI driver that mounts the admin token (deploy/k8s/identity.yaml).
      azureKeyvaultSecretsProvider: {
        enabled: true
        config: { enableSecretRotation: 'true' }
      }
    }
  }
}

// ---- Identities: one per workload, federated with its Kubernetes service account ----

resource identities 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = [for workload in workloads: {
  name: '${name}-${workload}'
  location: location
}]

// Federated credentials are written one at a time: Entra ID refuses concurrent writes.
@batchSize(1)
resource federations 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = [for (workload, i) in workloads: {
  parent: identities[i]
  name: 'aks-${namespace}-${workload}'
  properties: {
    issuer: aks.properties.oidcIssuerProfile.issuerURL
    subject: 'system:serviceaccount:${namespace}:vaultgrains-${workload}'
    audiences: ['api://AzureADTokenExchange']
  }
}]

var silo = identities[0]
var api = identities[1]
var proxy = identities[2]

// ---- Role assignments at the narrowest scope ----

resource siloBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, '${name}-silo', roles.storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: silo.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource siloTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, '${name}-silo', roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: silo.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource siloKek 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(kek.id, '${name}-silo', roles.keyVaultCryptoUser)
  scope: kek
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoUser)
    principalId: silo.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource apiMembership 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(membershipTable.id, '${name}-api', roles.storageTableDataReader)
  scope: membershipTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataReader)
    principalId: api.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource apiHealthProbe 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vaultsContainer.id, '${name}-api', roles.storageBlobDataReader)
  scope: vaultsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: api.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource apiAdminToken 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(adminSecret.id, '${name}-api', roles.keyVaultSecretsUser)
  scope: adminSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: api.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource proxyMembership 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(membershipTable.id, '${name}-proxy', roles.storageTableDataReader)
  scope: membershipTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataReader)
    principalId: proxy.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource kubeletPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, aks.id, roles.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: aks.properties.identityProfile.kubeletidentity.objectId
    principalType: 'ServicePrincipal'
  }
}

// ---- What deploy/k8s needs (each output names the placeholder it replaces) ----

@description('config.yaml Storage__BlobServiceUri (REPLACE-account).')
output blobServiceUri string = storage.properties.primaryEndpoints.blob
@description('config.yaml Storage__TableServiceUri (REPLACE-account).')
output tableServiceUri string = storage.properties.primaryEndpoints.table
@description('config.yaml Encryption__KeyVault__KeyId (REPLACE-key-vault-name, REPLACE-key-version): the versioned key id.')
output keyEncryptionKeyId string = kek.properties.keyUriWithVersion
@description('identity.yaml keyvaultName (REPLACE-key-vault-name).')
output keyVaultName string = keyVault.name
@description('identity.yaml tenantId (REPLACE-tenant-id).')
output tenantId string = tenant().tenantId
@description('identity.yaml vaultgrains-silo client-id (REPLACE-silo-managed-identity-client-id).')
output siloClientId string = silo.properties.clientId
@description('identity.yaml vaultgrains-api client-id and SecretProviderClass clientID (REPLACE-api-managed-identity-client-id).')
output apiClientId string = api.properties.clientId
@description('identity.yaml vaultgrains-proxy client-id (REPLACE-proxy-managed-identity-client-id).')
output proxyClientId string = proxy.properties.clientId
@description('kustomization.yaml images newName prefix (REPLACE-registry.example.com).')
output registryLoginServer string = registry.properties.loginServer
@description('az aks get-credentials -n <this> -g <resource group>.')
output aksName string = aks.name
@description('The OIDC issuer the federated credentials trust.')
output oidcIssuerUrl string = aks.properties.oidcIssuerProfile.issuerURL
