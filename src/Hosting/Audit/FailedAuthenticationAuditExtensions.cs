using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting.Audit;

public static class FailedAuthenticationAuditExtensions
{
    /// <summary>Counts failed authentications (<see cref="FailedAuthenticationSummaries"/>), without writing them anywhere. Idempotent.</summary>
    public static IServiceCollection AddFailedAuthenticationSummaries(this IServiceCollection services, IConfiguration configuration)
    {
        if (services.Any(d => d.ServiceType == typeof(FailedAuthenticationSummaries)))
        {
            return services;
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IValidateOptions<FailedAuthenticationAuditOptions>, FailedAuthenticationAuditOptionsValidator>();
        services.AddOptions<FailedAuthenticationAuditOptions>().Bind(configuration.GetSection(FailedAuthenticationAuditOptions.Section)).ValidateOnStart();
        services.AddSingleton<FailedAuthenticationSummaries>();
        return services;
    }

    /// <summary>
    /// Counts failed authentications and writes their summaries to the audit trail every
    /// <c>Audit:FailedAuthenticationSummaryInterval</c> and at shutdown. Needs a cluster connection.
    /// </summary>
    public static IServiceCollection AddFailedAuthenticationAudit(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddFailedAuthenticationSummaries(configuration);
        services.AddSingleton<FailedAuthenticationSummaryWriter>();
        services.AddHostedService(provider => provider.GetRequiredService<FailedAuthenticationSummaryWriter>());
        return services;
    }
}
