using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using VaultGrains.Domain;

namespace VaultGrains.Grains.Audit;

/// <summary>
/// The trail's record format: one line per event, <c>&lt;hash&gt;\t&lt;json&gt;\n</c>, where the JSON is the
/// event as the API shows it (with <c>previous_hash</c>) and the hash is SHA-256 over the previous
/// event's hash, a newline and that JSON's exact bytes. Editing, removing or reordering a line
/// breaks the chain at that line.
/// </summary>
internal static class AuditChain
{
    /// <summary>The previous hash of an organization's very first event.</summary>
    public const string Genesis = "";

    /// <summary>
    /// Puts events on the chain, in order, after <paramref name="previousHash"/>: their records, and
    /// their lines as the UTF-8 bytes of one append. Each event's JSON is written once, as bytes, and
    /// hashed and copied into the lines from there.
    /// </summary>
    public static (List<AuditRecord> Records, ReadOnlyMemory<byte> Lines) Seal(IReadOnlyList<(string Id, AuditEntry Entry)> events, DateTime time, string organizationId, string previousHash)
    {
        var records = new List<AuditRecord>(events.Count);
        var lines = new ArrayBufferWriter<byte>(events.Count * 640);
        var json = new ArrayBufferWriter<byte>(1024);
        using var writer = new Utf8JsonWriter(json);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var timeText = Timestamps.Format(time);
        var previous = previousHash;
        foreach (var (id, entry) in events)
        {
            json.ResetWrittenCount();
            writer.Reset(json);
            Write(writer, id, timeText, organizationId, entry, previous);
            writer.Flush();

            var hashText = Link(sha, Encoding.UTF8.GetBytes(previous), json.WrittenSpan);

            lines.Advance(Encoding.ASCII.GetBytes(hashText, lines.GetSpan(hashText.Length)));
            lines.Write("\t"u8);
            lines.Write(json.WrittenSpan);
            lines.Write("\n"u8);
            records.Add(new AuditRecord(id, time, hashText, Encoding.UTF8.GetString(json.WrittenSpan), entry.Resource.VaultId, entry.Action));
            previous = hashText;
        }

        return (records, lines.WrittenMemory);
    }

    /// <summary>An event's hash, as verification recomputes it from a stored line.</summary>
    public static string Hash(string previousHash, string json)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        return Link(sha, Encoding.UTF8.GetBytes(previousHash), Encoding.UTF8.GetBytes(json));
    }

    // The one definition of a link of the chain: SHA-256 over the previous hash, a newline and the
    // event's JSON bytes, as lower-case hex.
    private static string Link(IncrementalHash sha, ReadOnlySpan<byte> previousHash, ReadOnlySpan<byte> json)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        sha.AppendData(previousHash);
        sha.AppendData("\n"u8);
        sha.AppendData(json);
        sha.GetHashAndReset(hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Reads the lines of a segment; a torn last line (no newline: a write that never completed) is left out.</summary>
    public static List<AuditRecord> Parse(string segment)
    {
        var records = new List<AuditRecord>();
        var start = 0;
        while (start < segment.Length)
        {
            var end = segment.IndexOf('\n', start);
            if (end < 0)
            {
                break;
            }

            records.Add(AuditRecord.FromLine(segment[start..end]));
            start = end + 1;
        }

        return records;
    }

    private static void Write(Utf8JsonWriter json, string id, string time, string organizationId, AuditEntry entry, string previousHash)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("time", time);
        if (organizationId == SystemAuditTrail.Key)
        {
            // The system trail's events belong to no organization.
            json.WriteNull("organization_id");
        }
        else
        {
            json.WriteString("organization_id", organizationId);
        }

        json.WriteStartObject("actor");
        json.WriteString("type", entry.Actor.Type);
        json.WriteString("id", entry.Actor.Id);
        json.WriteEndObject();
        json.WriteString("action", entry.Action);
        json.WriteString("outcome", entry.Outcome);
        json.WriteNumber("status", entry.Status);
        json.WriteStartObject("resource");
        WriteIfPresent(json, "vault_id", entry.Resource.VaultId);
        WriteIfPresent(json, "secret_id", entry.Resource.SecretId);
        WriteIfPresent(json, "env_key", entry.Resource.EnvKey);
        WriteIfPresent(json, "runtime_id", entry.Resource.RuntimeId);
        WriteIfPresent(json, "key_id", entry.Resource.KeyId);
        json.WriteEndObject();
        json.WriteStartObject("detail");
        foreach (var (name, value) in entry.Detail ?? new Dictionary<string, string>())
        {
            json.WriteString(name, value);
        }

        json.WriteEndObject();
        json.WriteString("previous_hash", previousHash);
        json.WriteEndObject();
    }

    private static void WriteIfPresent(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}

/// <summary>One stored event: its line's parts and what queries filter on.</summary>
internal sealed record AuditRecord(string Id, DateTime Time, string Hash, string Json, string? VaultId, string Action)
{
    /// <summary>The event as the API shows it: the stored JSON with its <c>hash</c>.</summary>
    public string ToApiJson() => Json[..^1] + ",\"hash\":\"" + Hash + "\"}";

    public string? PreviousHash => Read(Json, "previous_hash");

    /// <summary>Reads a stored line. A line that does not parse keeps its text so verification can point at it.</summary>
    public static AuditRecord FromLine(string line)
    {
        var tab = line.IndexOf('\t');
        var hash = tab < 0 ? "" : line[..tab];
        var json = tab < 0 ? line : line[(tab + 1)..];
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var resource = root.GetProperty("resource");
            return new AuditRecord(
                root.GetProperty("id").GetString() ?? "",
                root.GetProperty("time").GetDateTime().ToUniversalTime(),
                hash,
                json,
                resource.TryGetProperty("vault_id", out var vault) ? vault.GetString() : null,
                root.GetProperty("action").GetString() ?? "");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return new AuditRecord("", DateTime.MinValue, hash, json, null, "");
        }
    }

    private static string? Read(string json, string property)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.TryGetProperty(property, out var value) ? value.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The trail refused or lost an append: the change it was for must not be made.</summary>
internal sealed class AuditUnavailableException() : Exception("The audit trail could not record the change.");
