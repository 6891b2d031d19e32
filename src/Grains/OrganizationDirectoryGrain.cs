namespace VaultGrains.Grains;

[GenerateSerializer, Alias("VaultGrains.Grains.OrganizationDirectoryState")]
internal sealed class OrganizationDirectoryState
{
    [Id(0)] public List<string> OrganizationIds { get; set; } = [];
}

/// <summary>The ids of every organization, for operator walks such as a re-wrap of all vault keys.</summary>
internal sealed class OrganizationDirectoryGrain(
    [PersistentState("directory", StorageNames.Organizations)] IPersistentState<OrganizationDirectoryState> storage)
    : Grain, IOrganizationDirectoryGrain
{
    public async Task Add(string organizationId)
    {
        if (!storage.State.OrganizationIds.Contains(organizationId))
        {
            storage.State.OrganizationIds.Add(organizationId);
            await storage.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> List() =>
        Task.FromResult<IReadOnlyList<string>>(storage.State.OrganizationIds.ToArray());
}
