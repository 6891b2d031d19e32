namespace VaultGrains;

/// <summary>Lists every organization, so operator commands can walk all vaults. Key: 0 (one per service).</summary>
[Alias("VaultGrains.IOrganizationDirectoryGrain")]
public interface IOrganizationDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Records an organization id.</summary>
    [Alias("Add")]
    Task Add(string organizationId);

    /// <summary>All organization ids in creation order.</summary>
    [Alias("List")]
    Task<IReadOnlyList<string>> List();
}
