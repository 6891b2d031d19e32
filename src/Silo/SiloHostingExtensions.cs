using System.Net;
using Azure.Core.Cryptography;
using Azure.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using VaultGrains.Grains;
using VaultGrains.Grains.Audit;
using VaultGrains.Grains.Crypto;
using VaultGrains.Grains.Vaults;
using Orleans.Dashboard;
using VaultGrains.Hosting;
using VaultGrains.Hosting.Telemetry;
using VaultGrains.Silo.Telemetry;

namespace VaultGrains.Silo;

public static class SiloHostingExtensions
{
    /// <summary>Makes this host a VaultGrains silo: clustering, grain storage and encryption, all from configuration.</summary>
    public static IHostApplicationBuilder AddVaultSilo(this IHostApplicationBuilder builder)
    {
        // First: the Azure SDK decides once per process whether it emits activities.
        var telemetry = builder.AddVaultTelemetry("vaultgrains-silo", traceRequests: false);
        return builder.AddVaultSilo(telemetry, ownManagementListener: true);
    }

    /// <summary>
    /// The silo for a host that set up telemetry itself (<paramref name="telemetry"/>): the API
    /// hosting the silo in-process. Without <paramref name="ownManagementListener"/> the host's
    /// own management listener serves this silo's metrics too. <paramref name="configure"/> adds
    /// to the Orleans setup (grain call filters).
    /// </summary>
    public static IHostApplicationBuilder AddVaultSilo(this IHostApplicationBuilder builder, TelemetryOptions telemetry, bool ownManagementListener, Action<ISiloBuilder>? configure = null)
    {
        var (storage, cluster) = builder.Services.AddVaultSettings(builder.Configuration);
        builder.Services.AddVaultEncryption(builder.Configuration);
        builder.Services.AddVaultMembership(builder.Configuration);
        builder.Services.AddVaultSiloHealth(builder.Configuration);
        if (ownManagementListener)
        {
            builder.Services.AddHostedService<SiloManagementEndpoint>();
        }

        // SIGTERM: Orleans leaves the cluster cleanly and deactivates (writes back) every grain;
        // callers are re-routed to the remaining silos. Orchestrators must wait longer than this.
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(25));
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(options =>
            {
                options.ClusterId = cluster.ClusterId;
                options.ServiceId = cluster.ServiceId;
            });
            if (cluster.Clustering == ClusterSettings.Localhost)
            {
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort);
            }
            else
            {
                silo.UseAzureStorageClustering(options =>
                {
                    options.TableServiceClient = storage.CreateTableServiceClient();
                    options.TableName = storage.ClusterTable;
                });
                var address = cluster.AdvertisedIPAddress is { Length: > 0 } ip ? IPAddress.Parse(ip) : IPAddress.Loopback;
                silo.ConfigureEndpoints(address, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: cluster.AdvertisedIPAddress is { Length: > 0 });
            }

            silo.UseVaultClusterTls();
            if (cluster.UseDistributedGrainDirectory)
            {
                silo.AddStrongGrainDirectory();
            }

            silo.AddVaultGrainStorage(storage);

            // W3C trace context from the caller's span to the grain's (the API and proxy add the same).
            silo.AddActivityPropagation();
            if (telemetry.Enabled)
            {
                silo.AddIncomingGrainCallFilter<VaultChangeMetricsFilter>();
            }

            if (telemetry.Enabled && telemetry.Dashboard)
            {
                // The dashboard's grains and call profiler; the API serves its UI on the management port.
                silo.AddDashboard(options => options.HideTrace = true);
            }

            configure?.Invoke(silo);
        });
        return builder;
    }

    /// <summary>Failure detection tuned by <c>Orleans:Membership:*</c> (see <see cref="MembershipSettings"/>).</summary>
    public static IServiceCollection AddVaultMembership(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<MembershipSettings>, MembershipSettingsValidator>();
        services.AddOptions<MembershipSettings>().Bind(configuration.GetSection(MembershipSettings.Section)).ValidateOnStart();
        services.AddOptions<ClusterMembershipOptions>().Configure<IOptions<MembershipSettings>>((options, settings) => settings.Value.ApplyTo(options));
        return services;
    }

    /// <summary>The optional HTTP probe endpoint (<c>Health:Port</c>), registered before Orleans so it outlives the silo's shutdown.</summary>
    public static IServiceCollection AddVaultSiloHealth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<SiloHealthOptions>, SiloHealthOptionsValidator>();
        services.AddOptions<SiloHealthOptions>().Bind(configuration.GetSection(SiloHealthOptions.Section)).ValidateOnStart();
        services.AddHostedService<SiloHealthEndpoint>();
        return services;
    }

    /// <summary>
    /// Orleans' strongly consistent directory (experimental in 10.x, ORLEANSEXP003): at most one
    /// activation per grain even during membership changes, at the price of a lease that keeps the
    /// grains of a crashed silo unavailable for <c>GrainDirectoryOptions.RangeLeaseDuration</c>.
    /// Off by default: the vault's ETag-checked writes already refuse a duplicate activation's write.
    /// </summary>
    private static void AddStrongGrainDirectory(this ISiloBuilder silo)
    {
#pragma warning disable ORLEANSEXP003 // Experimental API, opted into by configuration only.
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
    }

    /// <summary>The grain storage providers on Azure Storage, with a serializer that survives type renames.</summary>
    public static ISiloBuilder AddVaultGrainStorage(this ISiloBuilder silo, StorageOptions storage)
    {
        silo.Services.AddVaultLog(silo.Configuration, storage);
        silo.AddAzureBlobGrainStorage(StorageNames.Organizations, options => options.Configure<Serializer>((o, serializer) =>
        {
            o.BlobServiceClient = storage.CreateBlobServiceClient();
            o.ContainerName = storage.OrganizationContainer;
            o.DeleteStateOnClear = true;
            o.GrainStorageSerializer = Measured(StorageNames.Organizations, new OrleansGrainStorageSerializer(serializer));
        }));
        silo.AddAzureTableGrainStorage(StorageNames.ApiKeys, options => options.Configure<Serializer>((o, serializer) =>
        {
            o.TableServiceClient = storage.CreateTableServiceClient();
            o.TableName = storage.ApiKeyTable;
            o.GrainStorageSerializer = Measured(StorageNames.ApiKeys, new OrleansGrainStorageSerializer(serializer));
        }));
        silo.Services.AddVaultAudit(silo.Configuration, storage);
        silo.AddAzureTableGrainStorage(StorageNames.Runtimes, options => options.Configure<Serializer>((o, serializer) =>
        {
            o.TableServiceClient = storage.CreateTableServiceClient();
            o.TableName = storage.RuntimeTable;
            o.GrainStorageSerializer = Measured(StorageNames.Runtimes, new OrleansGrainStorageSerializer(serializer));
        }));
        silo.AddAzureTableGrainStorage(StorageNames.Idempotency, options => options.Configure<Serializer>((o, serializer) =>
        {
            o.TableServiceClient = storage.CreateTableServiceClient();
            o.TableName = storage.IdempotencyTable;
            o.DeleteStateOnClear = true;
            o.GrainStorageSerializer = Measured(StorageNames.Idempotency, new OrleansGrainStorageSerializer(serializer));
        }));
        silo.Services.AddHostedService(services => new IdempotencyRecordSweep(storage.CreateTableServiceClient().GetTableClient(storage.IdempotencyTable),
            services.GetRequiredService<TimeProvider>(), services.GetRequiredService<Microsoft.Extensions.Logging.ILogger<IdempotencyRecordSweep>>()));
        foreach (var provider in new[] { StorageNames.Organizations, StorageNames.ApiKeys, StorageNames.Runtimes, StorageNames.Idempotency })
        {
            silo.Services.DecorateKeyedStorage(provider);
        }

        return silo;
    }

    /// <summary>
    /// Vault logs in the vaults container (<see cref="BlobVaultLogStore"/>, which also reads vaults
    /// stored whole by earlier versions) and their compaction settings (<c>VaultLog:*</c>).
    /// </summary>
    public static IServiceCollection AddVaultLog(this IServiceCollection services, IConfiguration configuration, StorageOptions storage)
    {
        services.AddSingleton<IValidateOptions<VaultLogOptions>, VaultLogOptionsValidator>();
        services.AddOptions<VaultLogOptions>().Bind(configuration.GetSection(VaultLogOptions.Section)).ValidateOnStart();
        services.AddSingleton<IVaultLogStore>(provider => new MeasuredVaultLogStore(
            new BlobVaultLogStore(storage.CreateBlobServiceClient().GetBlobContainerClient(storage.VaultContainer)),
            provider.GetRequiredService<IGrainContextAccessor>()));
        return services;
    }

    /// <summary>The audit trail's store (Append Blobs in the audit container) and settings (<c>Audit:*</c>).</summary>
    public static IServiceCollection AddVaultAudit(this IServiceCollection services, IConfiguration configuration, StorageOptions storage)
    {
        services.AddSingleton<IValidateOptions<AuditOptions>, AuditOptionsValidator>();
        services.AddOptions<AuditOptions>().Bind(configuration.GetSection(AuditOptions.Section)).ValidateOnStart();
        services.TryAddSingletonTimeProvider();
        services.AddSingleton<IAuditStore>(_ => new MeasuredAuditStore(new BlobAuditStore(storage.CreateBlobServiceClient().GetBlobContainerClient(storage.AuditContainer))));
        return services;
    }

    private static IGrainStorageSerializer Measured(string provider, IGrainStorageSerializer serializer) =>
        new MeasuringGrainStorageSerializer(provider, serializer);

    /// <summary>Wraps a provider's keyed <see cref="IGrainStorage"/> in <see cref="MeasuredGrainStorage"/> (latency by outcome, batches).</summary>
    private static void DecorateKeyedStorage(this IServiceCollection services, string provider)
    {
        var original = services.Last(d => d.ServiceType == typeof(IGrainStorage) && d.IsKeyedService && Equals(d.ServiceKey, provider));
        services.Remove(original);
        services.AddKeyedSingleton<IGrainStorage>(provider, (services, key) =>
        {
            var inner = original.KeyedImplementationFactory is { } factory
                ? (IGrainStorage)factory(services, key)
                : original.KeyedImplementationInstance as IGrainStorage ?? (IGrainStorage)ActivatorUtilities.CreateInstance(services, original.KeyedImplementationType!);
            return new MeasuredGrainStorage(provider, inner);
        });
    }

    /// <summary>
    /// The key-encryption key and the vault key protector built on it. With the KeyVault provider
    /// the credential is <c>DefaultAzureCredential</c> unless a <see cref="KeyVaultConnection"/> is registered.
    /// </summary>
    public static IServiceCollection AddVaultEncryption(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<EncryptionOptions>, EncryptionOptionsValidator>();
        services.AddOptions<EncryptionOptions>().Bind(configuration.GetSection(EncryptionOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProxyAuthorityOptions>, ProxyAuthorityOptionsValidator>();
        services.AddOptions<ProxyAuthorityOptions>().Bind(configuration.GetSection(ProxyAuthorityOptions.Section)).ValidateOnStart();
        services.TryAddSingletonTimeProvider();
        services.AddHostedService<KeyEncryptionKeyWarmup>();
        services.TryAddSingleton(_ => new KeyVaultConnection(new DefaultAzureCredential()));
        services.AddSingleton<CredentialSeal>();
        services.AddSingleton(provider => CreateKeyProtector(
            provider.GetRequiredService<IOptions<EncryptionOptions>>().Value,
            provider.GetRequiredService<KeyVaultConnection>));
        return services;
    }

    private static VaultKeyProtector CreateKeyProtector(EncryptionOptions options, Func<KeyVaultConnection> connection)
    {
        if (options.Provider == EncryptionOptions.LocalProvider)
        {
            var local = LocalKeyEncryptionKey.LoadOrCreate(options.Local.KeyFile!);
            return new VaultKeyProtector(local, local, LocalKeyEncryptionKey.Algorithm);
        }

        var keyVault = options.KeyVault;
        var current = KeyVaultKeyId.TryParse(keyVault.KeyId, out var parsed) ? parsed : throw new OptionsValidationException(EncryptionOptions.Section, typeof(EncryptionOptions), ["Encryption:KeyVault:KeyId is not a versioned key id."]);
        var previous = keyVault.PreviousKeyIds.Select(id => KeyVaultKeyId.TryParse(id, out var old) ? old : null).OfType<KeyVaultKeyId>();
        var resolver = new KeyVaultKeyResolver(current, connection().Credential, keyVault.ToSettings(), previous, connection().Transport);
        IKeyEncryptionKeyResolver unwrappers = options.Local.KeyFile is { Length: > 0 } keyFile
            ? new LocalThenKeyVaultResolver(LocalKeyEncryptionKey.LoadOrCreate(keyFile), resolver)
            : resolver;
        return new VaultKeyProtector(resolver.Current, unwrappers, KeyVaultKeyEncryptionKey.Algorithm);
    }

    /// <summary>Vault keys wrapped by the local key before the move to Key Vault keep unwrapping until re-wrapped.</summary>
    private sealed class LocalThenKeyVaultResolver(LocalKeyEncryptionKey local, KeyVaultKeyResolver keyVault) : IKeyEncryptionKeyResolver
    {
        public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default) =>
            keyId.StartsWith("local:", StringComparison.Ordinal) ? local.Resolve(keyId, cancellationToken) : keyVault.Resolve(keyId, cancellationToken);

        public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default) =>
            Task.FromResult(Resolve(keyId, cancellationToken));
    }

    private static void TryAddSingletonTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }
}
