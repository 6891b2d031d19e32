using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace VaultGrains.Api.Endpoints;

/// <summary>Body of admin <c>PATCH /organizations/{org_id}</c>: only the fields present change.</summary>
public sealed record UpdateOrganizationRequest(
    [property: JsonPropertyName("disabled")]
    [property: Description("true switches the organization off: its API keys get 401 and its runtimes' tokens 407 within a second, until it is switched on again. Nothing is deleted.")]
    bool? Disabled = null,
    [property: JsonPropertyName("limits")]
    [property: Description("Overrides the default limits (10,000 vaults, 1,000 runtimes). A limit below the current count blocks new ones and removes none.")]
    OrganizationLimitsRequest? Limits = null)
{
    /// <summary>The changes in the body, or the 400 that says which field is wrong.</summary>
    internal static async Task<(OrganizationChanges? Changes, IResult? Error)> ReadAsync(HttpRequest request)
    {
        var (body, error) = await JsonBody.ReadAsync(request);
        if (body is null)
        {
            return (null, error);
        }

        using (body)
        {
            bool? disabled = null;
            if (body.Root.TryGetProperty("disabled", out var disabledElement))
            {
                if (disabledElement.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    return (null, ApiResults.BadRequest("disabled must be a boolean"));
                }

                disabled = disabledElement.GetBoolean();
            }

            int? vaults = null, runtimes = null;
            if (body.Root.TryGetProperty("limits", out var limits))
            {
                if (limits.ValueKind != JsonValueKind.Object)
                {
                    return (null, ApiResults.BadRequest("limits must be an object"));
                }

                if (!TryReadLimit(limits, "vaults", out vaults, out var limitError) || !TryReadLimit(limits, "runtimes", out runtimes, out limitError))
                {
                    return (null, ApiResults.BadRequest(limitError!));
                }
            }

            return (new OrganizationChanges(disabled, vaults, runtimes), null);
        }
    }

    private static bool TryReadLimit(JsonElement limits, string name, out int? value, out string? error)
    {
        value = null;
        error = null;
        if (!limits.TryGetProperty(name, out var element))
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var number) || number is < 0 or > OrganizationLimits.Maximum)
        {
            error = $"limits.{name} must be an integer between 0 and {OrganizationLimits.Maximum}";
            return false;
        }

        value = number;
        return true;
    }
}

/// <summary>The limits of an organization in a <c>PATCH</c>; an absent member stays as it is.</summary>
public sealed record OrganizationLimitsRequest(
    [property: JsonPropertyName("vaults"), Range(0, OrganizationLimits.Maximum)]
    [property: Description("Most vaults the organization may hold.")]
    int? Vaults = null,
    [property: JsonPropertyName("runtimes"), Range(0, OrganizationLimits.Maximum)]
    [property: Description("Most runtimes the organization may hold.")]
    int? Runtimes = null);
