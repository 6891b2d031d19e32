using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Deploy;

/// <summary>
/// deploy/azure/main.bicep compiles with the Bicep CLI of the NuGet package pinned in
/// deploy/azure/Bicep.proj, and the compiled ARM template grants each identity exactly the roles
/// deploy/k8s/identity.yaml lists, each at the narrowest scope: a new or widened role assignment
/// fails here until this list is changed on purpose.
/// </summary>
public sealed partial class AzureInfrastructureTests
{
    // The built-in role ids (Azure's, not ours): the template's names for them must not lie.
    private static readonly Dictionary<string, string> BuiltInRoles = new()
    {
        ["ba92f5b4-2d11-453d-a403-e96b0029c9fe"] = "Storage Blob Data Contributor",
        ["2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"] = "Storage Blob Data Reader",
        ["0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"] = "Storage Table Data Contributor",
        ["76199698-9eea-4c19-bc75-cec21354c6b6"] = "Storage Table Data Reader",
        ["12338af0-0e69-4776-bea7-57ae8d297424"] = "Key Vault Crypto User",
        ["4633458b-17de-408a-b874-0445c86b69e6"] = "Key Vault Secrets User",
        ["7f951dda-4ed3-4680-a7ca-43fe172d538d"] = "AcrPull",
    };

    // principal | role | scope (resource type, and which one of that type).
    private static readonly string[] Expected =
    [
        "silo | Storage Blob Data Contributor | Microsoft.Storage/storageAccounts",
        "silo | Storage Table Data Contributor | Microsoft.Storage/storageAccounts",
        "silo | Key Vault Crypto User | Microsoft.KeyVault/vaults/keys vaultgrains-kek",
        "api | Storage Table Data Reader | Microsoft.Storage/storageAccounts/tableServices/tables vaultgrainscluster",
        "api | Storage Blob Data Reader | Microsoft.Storage/storageAccounts/blobServices/containers vaultgrains-vaults",
        "api | Key Vault Secrets User | Microsoft.KeyVault/vaults/secrets vaultgrains-admin-token",
        "proxy | Storage Table Data Reader | Microsoft.Storage/storageAccounts/tableServices/tables vaultgrainscluster",
        "aks-kubelet | AcrPull | Microsoft.ContainerRegistry/registries",
    ];

    private static readonly Lazy<JsonElement> Template = new(Compile);

    [Fact]
    public void Every_role_assignment_is_one_of_the_narrow_ones_and_none_is_missing()
    {
        var template = Template.Value;
        var workloads = template.GetProperty("variables").GetProperty("workloads").EnumerateArray().Select(w => w.GetString()!).ToArray();
        var roleIds = template.GetProperty("variables").GetProperty("roles").EnumerateObject().ToDictionary(r => r.Name, r => r.Value.GetString()!);

        var actual = new List<string>();
        foreach (var assignment in Resources(template).Where(r => Type(r) == "Microsoft.Authorization/roleAssignments"))
        {
            var properties = assignment.GetProperty("properties");
            var principalExpression = properties.GetProperty("principalId").GetString()!;
            var principal = WorkloadIndex().Match(principalExpression) is { Success: true } w ? workloads[int.Parse(w.Groups[1].Value)]
                : principalExpression.Contains("kubeletidentity.objectId", StringComparison.Ordinal) ? "aks-kubelet"
                : principalExpression;

            var roleName = RoleVariable().Match(properties.GetProperty("roleDefinitionId").GetString()!).Groups[1].Value;
            Assert.True(roleIds.TryGetValue(roleName, out var roleId), $"role {roleName} is not one of variables('roles')");
            Assert.True(BuiltInRoles.TryGetValue(roleId, out var role), $"{roleName} = {roleId} is not a built-in role this test knows");

            Assert.True(assignment.TryGetProperty("scope", out var scope), $"{principal} {role} has no scope: it would apply to the whole resource group");
            actual.Add($"{principal} | {role} | {Scope(scope.GetString()!)}");
        }

        Assert.Equal(Expected.Order(), actual.Order());
    }

    [Fact]
    public void Storage_takes_no_shared_keys_and_key_vault_keeps_deleted_keys()
    {
        var resources = Resources(Template.Value).ToArray();

        var storage = Properties(resources, "Microsoft.Storage/storageAccounts");
        Assert.False(storage.GetProperty("allowSharedKeyAccess").GetBoolean());
        Assert.Equal("TLS1_2", storage.GetProperty("minimumTlsVersion").GetString());
        Assert.True(storage.GetProperty("supportsHttpsTrafficOnly").GetBoolean());
        Assert.False(storage.GetProperty("allowBlobPublicAccess").GetBoolean());

        var vault = Properties(resources, "Microsoft.KeyVault/vaults");
        Assert.True(vault.GetProperty("enableRbacAuthorization").GetBoolean());
        Assert.True(vault.GetProperty("enableSoftDelete").GetBoolean());
        Assert.True(vault.GetProperty("enablePurgeProtection").GetBoolean());

        var key = Properties(resources, "Microsoft.KeyVault/vaults/keys");
        Assert.Equal("RSA-HSM", key.GetProperty("kty").GetString());
        Assert.Equal(["unwrapKey", "wrapKey"], key.GetProperty("keyOps").EnumerateArray().Select(o => o.GetString()).Order());
        var sizes = Template.Value.GetProperty("parameters").GetProperty("keySize").GetProperty("allowedValues").EnumerateArray().Select(v => v.GetInt32());
        Assert.All(sizes, size => Assert.True(size >= 3072, $"key size {size}"));

        var aks = Properties(resources, "Microsoft.ContainerService/managedClusters");
        Assert.True(aks.GetProperty("oidcIssuerProfile").GetProperty("enabled").GetBoolean());
        Assert.True(aks.GetProperty("securityProfile").GetProperty("workloadIdentity").GetProperty("enabled").GetBoolean());
        // Without a policy engine the NetworkPolicies of deploy/k8s (who reaches the silo and gateway ports) are not enforced.
        Assert.Equal("cilium", aks.GetProperty("networkProfile").GetProperty("networkPolicy").GetString());
    }

    [Fact]
    public void Each_identity_is_federated_with_its_service_account_in_the_manifests()
    {
        var template = Template.Value;
        var federation = Properties(Resources(template).ToArray(), "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials");
        Assert.Equal("[format('system:serviceaccount:{0}:vaultgrains-{1}', parameters('namespace'), variables('workloads')[copyIndex()])]", federation.GetProperty("subject").GetString());
        Assert.Equal("vaultgrains", template.GetProperty("parameters").GetProperty("namespace").GetProperty("defaultValue").GetString());

        var identityYaml = File.ReadAllText(Path.Combine(TestStorage.RepositoryRoot(), "deploy", "k8s", "identity.yaml"));
        foreach (var workload in template.GetProperty("variables").GetProperty("workloads").EnumerateArray())
        {
            Assert.Contains($"name: vaultgrains-{workload.GetString()}", identityYaml);
        }
    }

    private static IEnumerable<JsonElement> Resources(JsonElement template) =>
        template.GetProperty("resources").ValueKind == JsonValueKind.Object
            ? template.GetProperty("resources").EnumerateObject().Select(p => p.Value)
            : template.GetProperty("resources").EnumerateArray();

    private static string Type(JsonElement resource) => resource.GetProperty("type").GetString()!;

    private static JsonElement Properties(JsonElement[] resources, string type) =>
        Assert.Single(resources, r => Type(r) == type).GetProperty("properties");

    // "[resourceId('Microsoft.KeyVault/vaults/keys', <vault name>, variables('keyName'))]" →
    // "Microsoft.KeyVault/vaults/keys vaultgrains-kek" with the default parameter values.
    private static string Scope(string expression)
    {
        var match = ScopeExpression().Match(expression);
        Assert.True(match.Success, $"unexpected scope {expression}");
        var type = match.Groups[1].Value;
        var segments = type.Count(c => c == '/');
        var names = match.Groups[2].Value;
        if (segments == 1)
        {
            return type;
        }

        var variables = Template.Value.GetProperty("variables");
        var prefix = Template.Value.GetProperty("parameters").GetProperty("storagePrefix").GetProperty("defaultValue").GetString()!;
        var name = VariableName().Match(names) is { Success: true } v ? variables.GetProperty(v.Groups[1].Value).GetString()!
            : PrefixedName().Match(names) is { Success: true } p ? string.Format(System.Globalization.CultureInfo.InvariantCulture, p.Groups[1].Value, prefix)
            : names;
        return $"{type} {name}";
    }

    private static JsonElement Compile()
    {
        var root = TestStorage.RepositoryRoot();
        var project = Path.Combine(root, "deploy", "azure", "Bicep.proj");
        var version = XDocument.Load(project).Descendants("BicepVersion").Single().Value;
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var bicep = Path.Combine(packages, "azure.bicep.commandline.linux-x64", version, "tools", "bicep");
        Assert.True(File.Exists(bicep), $"{bicep} is missing: run `dotnet restore {project}` (./test.sh does)");

        var start = new ProcessStartInfo(bicep, ["build", Path.Combine(root, "deploy", "azure", "main.bicep"), "--stdout"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var json = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"bicep build failed:\n{stderr.Result}");
        Assert.True(!stderr.Result.Contains("Warning", StringComparison.Ordinal), $"bicep build warned:\n{stderr.Result}");
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    [GeneratedRegex(@"variables\('workloads'\)\[(\d+)\]")]
    private static partial Regex WorkloadIndex();

    [GeneratedRegex(@"variables\('roles'\)\.(\w+)")]
    private static partial Regex RoleVariable();

    [GeneratedRegex(@"^\[resourceId\('([^']+)', (.+)\)\]$")]
    private static partial Regex ScopeExpression();

    [GeneratedRegex(@", variables\('(\w+)'\)$")]
    private static partial Regex VariableName();

    [GeneratedRegex(@", format\('(\{0\}[^']*)', parameters\('storagePrefix'\)\)$")]
    private static partial Regex PrefixedName();
}
