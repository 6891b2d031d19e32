using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting;

public static class SettingsExtensions
{
    /// <summary>Binds and validates the storage and cluster settings, failing start-up with a message naming the key.</summary>
    public static (StorageOptions Storage, ClusterSettings Cluster) AddVaultSettings(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>();
        services.AddSingleton<IValidateOptions<ClusterSettings>, ClusterSettingsValidator>();
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section)).ValidateOnStart();

        // Orleans needs some of these while the host is being built, before ValidateOnStart runs.
        var storage = Validated(configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new(), new StorageOptionsValidator());
        var cluster = Validated(configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new(), new ClusterSettingsValidator());
        services.AddOptions<ClusterSettings>().Configure(options => configuration.GetSection(ClusterSettings.Section).Bind(options)).ValidateOnStart();
        services.PostConfigure<ClusterSettings>(options => options.Clustering = cluster.Clustering);

        // Orleans reads "Orleans:Clustering" itself, as the name of a provider to load from
        // configuration. Ours is a plain mode name that this code applies, so hide it from Orleans.
        configuration[$"{ClusterSettings.Section}:{nameof(ClusterSettings.Clustering)}"] = null;
        return (storage, cluster);
    }

    public static T Validated<T>(T options, IValidateOptions<T> validator)
        where T : class
    {
        var result = validator.Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(T), result.Failures);
        }

        return options;
    }
}
