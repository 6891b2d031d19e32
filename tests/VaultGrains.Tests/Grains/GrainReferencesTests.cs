using VaultGrains.Domain;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains;

/// <summary><see cref="GrainReferences.ReferenceTo{TGrain}"/> names the same grain, through the same interface, as Orleans' own GetGrain.</summary>
[Collection(nameof(VaultClusterCollection))]
public sealed class GrainReferencesTests(VaultClusterFixture fixture)
{
    [Fact]
    public void A_reference_names_the_grain_and_interface_GetGrain_names()
    {
        AssertSame<IVaultGrain>(ResourceId.New(ResourceId.Vault));
        AssertSame<IOrganizationGrain>(ResourceId.New(ResourceId.Organization));
        AssertSame<IAuditTrailGrain>(ResourceId.New(ResourceId.Organization));
        AssertSame<IRuntimeGrain>(ResourceId.New(ResourceId.Runtime));
        AssertSame<IApiKeyGrain>("a-key-hash");
        AssertSame<IIdempotencyGrain>("an-idempotency-key");
    }

    [Fact]
    public async Task Calls_through_it_reach_the_grain_with_their_arguments()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();

        var created = await fixture.Grains.ReferenceTo<IVaultGrain>(vaultId).CreateSecret(organizationId, VaultClusterFixture.Secret("REFERENCED", "v"));
        var listed = await fixture.Grains.GetGrain<IVaultGrain>(vaultId).ListSecrets(organizationId);

        Assert.True(created.Succeeded, created.Error.ToString());
        Assert.Equal(["REFERENCED"], listed.Value!.Select(s => s.EnvKey));
    }

    private void AssertSame<TGrain>(string key) where TGrain : IGrainWithStringKey
    {
        // Twice: the first call resolves the types, the second uses what it kept.
        for (var i = 0; i < 2; i++)
        {
            var ours = (GrainReference)(object)fixture.Grains.ReferenceTo<TGrain>(key);
            var orleans = (GrainReference)(object)fixture.Grains.GetGrain<TGrain>(key);
            Assert.Equal(orleans.GrainId, ours.GrainId);
            Assert.Equal(orleans.InterfaceType, ours.InterfaceType);
            Assert.IsAssignableFrom<TGrain>(ours);
        }
    }
}
