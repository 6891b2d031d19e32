using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Domain;
using VaultGrains.Grains.Audit;
using VaultGrains.Grains.Crypto;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains;

[CollectionDefinition(nameof(KeyVaultCollection))]
public sealed class KeyVaultCollection : ICollectionFixture<KeyVaultApiFixture>;

/// <summary>
/// The whole key hierarchy with the KEK in the Key Vault stand-in: what the key service is asked
/// for, rotation, outages, crypto-shredding and tampered storage.
/// </summary>
[Collection(nameof(KeyVaultCollection))]
public sealed class KeyVaultEncryptionTests(KeyVaultApiFixture fixture) : IDisposable
{
    private IGrainFactory Grains => fixture.Grains;

    private KeyVaultStandIn StandIn => fixture.StandIn;

    public void Dispose() => StandIn.Reset();

    private async Task<string> NewOrganizationAsync()
    {
        var organizationId = ResourceId.New(ResourceId.Organization);
        Assert.True((await Grains.GetGrain<IOrganizationGrain>(organizationId).Create("Acme")).Succeeded);
        return organizationId;
    }

    private async Task<string> NewVaultAsync(string organizationId)
    {
        var vault = await Grains.GetGrain<IOrganizationGrain>(organizationId).CreateVault(ResourceId.New(ResourceId.Vault), "Production", null);
        Assert.True(vault.Succeeded, vault.Error.ToString());
        return vault.Value!.Id;
    }

    private async Task<string> NewSecretAsync(string organizationId, string vaultId, string envKey, string value)
    {
        var secret = new NewSecret(ResourceId.New(ResourceId.Secret), envKey, new SecretValue(value), []);
        var reply = await Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, secret);
        Assert.True(reply.Succeeded, reply.Error.ToString());
        return secret.Id;
    }

    private async Task<string?> ReleaseAsync(string organizationId, string vaultId, string secretId)
    {
        var (_, value) = await TestRuntimes.ReleaseOnceAsync(Grains, organizationId, vaultId, secretId);
        return value;
    }

    [Fact]
    public async Task A_thousand_creates_in_ten_vaults_cost_one_unwrap_per_activation_and_no_wrap()
    {
        var organizationId = await NewOrganizationAsync();
        var vaultIds = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            vaultIds.Add(await NewVaultAsync(organizationId));
        }

        // Both deactivations below wait out the window in which a deactivating trail keeps vaults
        // that staged moments ago listed: its successor would ask them to deliver, and a vault
        // still answering that when the test deactivates everything stays active.
        Assert.True(StandIn.Wraps >= 10);
        await Task.Delay(AuditTrailGrain.ListedAfterDeactivation);
        await fixture.DeactivateAllAsync();
        StandIn.Reset();

        var replies = await Task.WhenAll(vaultIds.SelectMany(vaultId => Enumerable.Range(0, 100).Select(i =>
            Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, new NewSecret(ResourceId.New(ResourceId.Secret), $"KEY_{i}", new SecretValue($"value-{i}"), [])))));

        Assert.All(replies, reply => Assert.True(reply.Succeeded, reply.Error.ToString()));
        Assert.Equal(0, StandIn.Wraps);
        Assert.Equal(10, StandIn.Unwraps);
        Assert.Equal(10, StandIn.RequestCount);

        await Task.Delay(AuditTrailGrain.ListedAfterDeactivation);
        await fixture.DeactivateAllAsync();
        var secretId = replies[0].Value!.Id;
        Assert.Equal("value-0", await ReleaseAsync(organizationId, vaultIds[0], secretId));
        Assert.Equal("value-0", await ReleaseAsync(organizationId, vaultIds[0], secretId));
        Assert.Equal(11, StandIn.Unwraps);
        Assert.Equal(0, StandIn.Wraps);
    }

    [Fact]
    public async Task Rotation_rewraps_every_vault_key_under_the_new_version_without_touching_values()
    {
        var oldVersion = fixture.CurrentVersion;
        var newVersion = oldVersion == KeyVaultStandIn.Version1 ? KeyVaultStandIn.Version2 : KeyVaultStandIn.Version1;
        var organizationId = await NewOrganizationAsync();
        var values = new Dictionary<(string Vault, string Secret), string>();
        var vaultIds = new List<string>();
        for (var v = 0; v < 4; v++)
        {
            var vaultId = await NewVaultAsync(organizationId);
            vaultIds.Add(vaultId);
            for (var s = 0; s < 3; s++)
            {
                var value = $"value-{v}-{s}-{Guid.NewGuid():N}";
                values[(vaultId, await NewSecretAsync(organizationId, vaultId, $"KEY_{s}", value))] = value;
            }
        }

        var before = new Dictionary<string, (WrappedKey Key, Dictionary<string, byte[]> Ciphertexts)>();
        foreach (var vaultId in vaultIds)
        {
            var stored = (await fixture.ReadVaultAsync(vaultId))!.Value.State;
            Assert.Equal(fixture.CurrentKeyId, stored.VaultKey!.KeyId);
            before[vaultId] = (stored.VaultKey, stored.Secrets.ToDictionary(s => s.Id, s => Concat(s.Value)));
        }

        // The restart's trail activation would otherwise keep these vaults on its staging list, and
        // its successor would activate them to ask for their events (moving their keys early).
        await Task.Delay(AuditTrailGrain.ListedAfterDeactivation);
        await fixture.SwitchKeyAsync(newVersion);

        // The cluster's state key (it seals credential records) moves to the new version on its first
        // use and is unwrapped once per silo: done first, so the count below is the vault's alone.
        await fixture.SiloServices.GetRequiredService<CredentialSeal>().SealAsync("warm-up", "state key");
        Assert.Equal(fixture.CurrentKeyId, (await Grains.GetGrain<IStateKeyGrain>(0).Get()).KeyId);
        StandIn.Reset();

        // Lazily: the first activation under the new KEK moves the vault key on its own; the old
        // version still unwraps meanwhile.
        var lazyVault = vaultIds[0];
        var lazy = values.First(p => p.Key.Vault == lazyVault);
        Assert.Equal(lazy.Value, await ReleaseAsync(organizationId, lazyVault, lazy.Key.Secret));
        await WaitUntilAsync(async () => (await fixture.ReadVaultAsync(lazyVault))!.Value.State.VaultKey!.KeyId == fixture.CurrentKeyId);
        Assert.Equal(1, StandIn.UnwrapsWith(oldVersion));

        // By the operator: the walk moves the rest and reports what it did.
        var anonymous = await fixture.CreateClient().PostAsync("/api/admin/v1/maintenance/rewrap", null);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        var counts = await ApiFixture.ReadAsync(await admin.PostAsync("/api/admin/v1/maintenance/rewrap", null));
        Assert.Equal(["vaults_seen", "rewrapped", "already_current", "failed", "not_found"], counts.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0, counts.GetProperty("failed").GetInt32());
        Assert.True(counts.GetProperty("rewrapped").GetInt32() >= 3, counts.ToString());
        Assert.True(counts.GetProperty("already_current").GetInt32() >= 1, counts.ToString());
        Assert.Equal(counts.GetProperty("vaults_seen").GetInt32(),
            counts.GetProperty("rewrapped").GetInt32() + counts.GetProperty("already_current").GetInt32() + counts.GetProperty("not_found").GetInt32());

        var again = await ApiFixture.ReadAsync(await admin.PostAsync("/api/admin/v1/maintenance/rewrap", null));
        Assert.Equal(0, again.GetProperty("rewrapped").GetInt32());
        Assert.Equal(0, again.GetProperty("failed").GetInt32());

        foreach (var vaultId in vaultIds)
        {
            var stored = (await fixture.ReadVaultAsync(vaultId))!.Value.State;
            Assert.Equal(fixture.CurrentKeyId, stored.VaultKey!.KeyId);
            Assert.NotEqual(before[vaultId].Key.Bytes, stored.VaultKey.Bytes);
            Assert.Equal(before[vaultId].Ciphertexts.Keys.Order(), stored.Secrets.Select(s => s.Id).Order());
            Assert.All(stored.Secrets, s => Assert.Equal(before[vaultId].Ciphertexts[s.Id], Concat(s.Value)));
        }

        // Every value decrypts from storage under the new version alone.
        await fixture.DeactivateAllAsync();
        StandIn.Reset();
        foreach (var ((vaultId, secretId), value) in values)
        {
            Assert.Equal(value, await ReleaseAsync(organizationId, vaultId, secretId));
        }

        Assert.Equal(0, StandIn.UnwrapsWith(oldVersion));
        Assert.Equal(vaultIds.Count, StandIn.UnwrapsWith(newVersion));
    }

    [Fact]
    public async Task While_the_key_service_is_down_creates_and_rotations_answer_503_write_nothing_and_recover()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client, "Before");
        var secrets = $"/api/public/v1/vaults/{vaultId}/secrets";
        var kept = await ApiFixture.ReadAsync(await client.PostAsync(secrets, Json("""{"env_key":"KEPT","value":"kept-value"}""")));
        var keptUrl = $"{secrets}/{kept.GetProperty("id").GetString()}";
        var blobsBefore = await CountVaultBlobsAsync();

        StandIn.DownWith = 503;
        await fixture.DeactivateAllAsync();

        await AssertKeyServiceUnavailable(await client.PostAsync("/api/public/v1/vaults", Json("""{"name":"During"}""")));
        await AssertKeyServiceUnavailable(await client.PostAsync(secrets, Json("""{"env_key":"LOST","value":"lost-value"}""")));
        await AssertKeyServiceUnavailable(await client.PatchAsync(keptUrl, Json("""{"value":"rotated-value"}""")));

        Assert.Equal(blobsBefore, await CountVaultBlobsAsync());
        var vaults = await ApiFixture.ReadAsync(await client.GetAsync("/api/public/v1/vaults"));
        Assert.Equal(["Before"], vaults.EnumerateArray().Select(v => v.GetProperty("name").GetString()));
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(secrets));
        Assert.Equal(["KEPT"], listed.EnumerateArray().Select(s => s.GetProperty("env_key").GetString()));

        // Back: the same activation retries the unwrap on the next call; nothing to restart.
        StandIn.DownWith = null;
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsync(secrets, Json("""{"env_key":"LOST","value":"lost-value"}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PatchAsync(keptUrl, Json("""{"value":"rotated-value"}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsync("/api/public/v1/vaults", Json("""{"name":"After"}"""))).StatusCode);
    }

    [Fact]
    public async Task Deleting_a_secret_or_a_vault_leaves_nothing_in_storage_that_decrypts_it()
    {
        var organizationId = await NewOrganizationAsync();
        var vaultId = await NewVaultAsync(organizationId);
        var doomed = await NewSecretAsync(organizationId, vaultId, "DOOMED", "doomed-value");
        var survivor = await NewSecretAsync(organizationId, vaultId, "SURVIVOR", "survivor-value");
        var stored = (await fixture.ReadVaultAsync(vaultId))!.Value.State;
        var doomedValue = stored.Secrets.Single(s => s.Id == doomed).Value;
        var survivorValue = stored.Secrets.Single(s => s.Id == survivor).Value;
        var wrappedVaultKey = stored.VaultKey!.Bytes;
        var vault = Grains.GetGrain<IVaultGrain>(vaultId);

        Assert.True((await vault.DeleteSecret(organizationId, doomed)).Succeeded);

        var afterSecretDelete = (await fixture.ReadVaultAsync(vaultId))!.Value;
        Assert.DoesNotContain(afterSecretDelete.State.Secrets, s => s.Id == doomed);
        Assert.True(afterSecretDelete.Raw.AsSpan().IndexOf(doomedValue.WrappedDataKey) < 0, "the deleted secret's wrapped data key is still stored");
        Assert.True(afterSecretDelete.Raw.AsSpan().IndexOf(doomedValue.Ciphertext) < 0, "the deleted secret's ciphertext is still stored");
        Assert.Equal("survivor-value", await ReleaseAsync(organizationId, vaultId, survivor));

        Assert.True((await vault.DeleteSecret(organizationId, survivor)).Succeeded);
        Assert.True((await vault.Delete(organizationId)).Succeeded);

        Assert.Null(await fixture.ReadVaultAsync(vaultId));
        Assert.Equal(VaultError.VaultNotFound, (await Grains.GetGrain<IVaultGrain>(vaultId).Get(organizationId)).Error);

        // Whoever holds the KEK and every stored byte: no vault key left decrypts either value.
        var protector = fixture.SiloServices.GetRequiredService<VaultKeyProtector>();
        var remaining = 0;
        foreach (var otherVault in await fixture.StoredVaults.VaultIdsAsync())
        {
            var (otherState, raw) = (await fixture.ReadVaultAsync(otherVault))!.Value;
            Assert.True(raw.AsSpan().IndexOf(wrappedVaultKey) < 0, $"the deleted vault's wrapped key is still in {otherVault}'s blobs");
            if (otherState.VaultKey is not { } otherKey)
            {
                continue;
            }

            remaining++;
            using var key = VaultKey.FromBytes(await protector.UnwrapAsync(otherKey, CancellationToken.None));
            Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(key, new SecretBinding(organizationId, vaultId, doomed, 1), doomedValue));
            Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(key, new SecretBinding(organizationId, vaultId, survivor, 1), survivorValue));
        }

        Assert.True(remaining > 0, "no other vault was tried: the check would prove nothing");
    }

    [Fact]
    public async Task Tampered_storage_is_an_integrity_failure_logged_with_ids_only()
    {
        var organizationId = await NewOrganizationAsync();
        var vaultId = await NewVaultAsync(organizationId);
        const string Value = "tamper-target-value";
        var secretId = await NewSecretAsync(organizationId, vaultId, "TARGET", Value);
        await fixture.DeactivateAllAsync();
        var state = (await fixture.ReadVaultAsync(vaultId))!.Value.State;
        var secret = state.Secrets.Single();
        var originalKey = state.VaultKey!;
        try
        {
            var flipped = (byte[])secret.Value.Ciphertext.Clone();
            flipped[0] ^= 0x01;
            state.Secrets[0] = secret with { Value = secret.Value with { Ciphertext = flipped } };
            await fixture.OverwriteVaultAsync(vaultId, state);

            // A damaged value is left out of the release (the vault's other values still go out).
            var released = await TestRuntimes.ReleaseOnceAsync(Grains, organizationId, vaultId, secretId);
            Assert.Equal((VaultError.SecretNotFound, (string?)null), released);
            Assert.Contains(fixture.Logs.Lines, line => line.StartsWith("Error") && line.Contains(secretId) && line.Contains("failed authentication"));

            // The wrapped vault key itself: Key Vault refuses to unwrap it, once; the activation
            // does not ask again.
            await fixture.DeactivateAllAsync();
            state = (await fixture.StoredVaults.ReadAsync(vaultId))!.Value.State;
            state.Secrets[0] = secret;
            var wrappedKey = (byte[])state.VaultKey!.Bytes.Clone();
            wrappedKey[7] ^= 0x01;
            state.VaultKey = state.VaultKey with { Bytes = wrappedKey };
            await fixture.OverwriteVaultAsync(vaultId, state);
            StandIn.Reset();

            var vault = Grains.GetGrain<IVaultGrain>(vaultId);
            // Attaching a runtime is a change of the vault, sealed under its key: refused first.
            var attach = await Grains.GetGrain<IOrganizationGrain>(organizationId).CreateRuntime(
                new NewRuntime(ResourceId.New(ResourceId.Runtime), "after tampering", [vaultId], CredentialFormat.Hash(Credentials.RuntimeToken.Generate())));
            Assert.Equal(VaultError.IntegrityFailure, attach.Error);
            Assert.Equal(VaultError.IntegrityFailure, (await vault.CreateSecret(organizationId, new NewSecret(ResourceId.New(ResourceId.Secret), "OTHER", new SecretValue("x"), []))).Error);
            Assert.Equal(1, StandIn.RequestCount);
            Assert.Contains(fixture.Logs.Lines, line => line.StartsWith("Error") && line.Contains(vaultId) && line.Contains("integrity"));
            Assert.DoesNotContain(fixture.Logs.Lines, line => line.Contains(Value));
        }
        finally
        {
            await fixture.DeactivateAllAsync();
            state.Secrets[0] = secret;
            state.VaultKey = originalKey;
            await fixture.OverwriteVaultAsync(vaultId, state);
        }

        Assert.Equal(Value, await ReleaseAsync(organizationId, vaultId, secretId));
    }

    [Fact]
    public async Task A_create_retried_while_the_vault_key_is_unwrapped_gets_its_own_write_not_env_key_exists()
    {
        var organizationId = await NewOrganizationAsync();
        var vaultId = await NewVaultAsync(organizationId);
        await NewSecretAsync(organizationId, vaultId, "BEFORE", "before-value");
        await fixture.DeactivateAllAsync();
        var vault = Grains.GetGrain<IVaultGrain>(vaultId);
        var secret = new NewSecret(ResourceId.New(ResourceId.Secret), "RETRIED", new SecretValue("retried-value"), []);
        StandIn.Reset();
        StandIn.Delay = TimeSpan.FromSeconds(1);

        // The original waits for the unwrap; its retry (same id) arrives meanwhile and waits too.
        var original = vault.CreateSecret(organizationId, secret);
        await Task.Delay(300);
        var retry = vault.CreateSecret(organizationId, secret);
        var replies = await Task.WhenAll(original, retry);

        Assert.All(replies, reply => Assert.True(reply.Succeeded, reply.Error.ToString()));
        Assert.All(replies, reply => Assert.Equal(secret.Id, reply.Value!.Id));
        Assert.Equal(1, StandIn.Unwraps);
        Assert.Single((await vault.ListSecrets(organizationId)).Value!, s => s.EnvKey == "RETRIED");
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task AssertKeyServiceUnavailable(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("""{"error":"key service unavailable"}""", await response.Content.ReadAsStringAsync());
        Assert.NotNull(response.Headers.RetryAfter);
    }

    private async Task<int> CountVaultBlobsAsync()
    {
        var count = 0;
        await foreach (var _ in fixture.VaultBlobs.GetBlobsAsync())
        {
            count++;
        }

        return count;
    }

    private static byte[] Concat(EncryptedValue value) => [.. value.WrappedDataKey, .. value.Nonce, .. value.Ciphertext, .. value.Tag];

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 15 s");
            await Task.Delay(100);
        }
    }
}
