using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace VaultGrains.Grains.Vaults;

/// <summary>What one record of a vault log holds.</summary>
internal enum VaultLogRecordKind : byte
{
    /// <summary>The whole vault as of its sequence number: always the first record of a log.</summary>
    Checkpoint = 1,

    /// <summary>The changes of one group-commit batch.</summary>
    Batch = 2,

    /// <summary>The last record of a log replaced by compaction: names the log that continues it.</summary>
    Seal = 3,
}

/// <summary>One readable record: its kind, log position and payload.</summary>
internal sealed record VaultLogFrame(VaultLogRecordKind Kind, long Sequence, ReadOnlyMemory<byte> Payload, long Offset, long Length);

/// <summary>A log's readable records, and whether its tail is the prefix of a record that never landed whole.</summary>
internal sealed record VaultLogContents(IReadOnlyList<VaultLogFrame> Frames, bool TornTail);

/// <summary>A record that is unreadable where a record must be: the vault refuses to load rather than drop it.</summary>
internal sealed class VaultLogCorruptException(string message) : Exception(message);

/// <summary>
/// The framing of vault log records. Each record carries the vault id and its sequence number (so
/// the same records could later live in a log shared by the vaults of a silo) and two checksums:
/// <code>
/// header (24 B): "VLOG" | format 1 | kind | 0 0 | body length (u32) | sequence (i64) | SHA-256(header[0..20])[0..4]
/// body:          vault id length (u16) | vault id (UTF-8) | payload (Orleans serializer, version tolerant)
/// check (8 B):   SHA-256(body)[0..8]
/// </code>
/// An append is atomic up to <see cref="MaxAppendBytes"/>, so only a longer record can be torn:
/// its header names more bytes than the log holds. Such a tail was never acknowledged and is
/// ignored, and a later record may follow it if it carries the torn record's sequence number. Any
/// other unreadable record fails the read.
/// </summary>
internal static class VaultLogFormat
{
    public const int HeaderBytes = 24;
    public const int CheckBytes = 8;
    public const byte FormatVersion = 1;

    /// <summary>The largest block an Append Blob accepts in one append (and so writes atomically).</summary>
    public const int MaxAppendBytes = 4 * 1024 * 1024;

    private static ReadOnlySpan<byte> Magic => "VLOG"u8;

    public static byte[] Encode(string vaultId, VaultLogRecordKind kind, long sequence, ReadOnlySpan<byte> payload)
    {
        var idBytes = Encoding.UTF8.GetByteCount(vaultId);
        var bodyLength = 2 + idBytes + payload.Length;
        var frame = new byte[HeaderBytes + bodyLength + CheckBytes];
        var header = frame.AsSpan(0, HeaderBytes);
        Magic.CopyTo(header);
        header[4] = FormatVersion;
        header[5] = (byte)kind;
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], bodyLength);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], sequence);
        Check(header[..20], header[20..24]);
        var body = frame.AsSpan(HeaderBytes, bodyLength);
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)idBytes);
        Encoding.UTF8.GetBytes(vaultId, body.Slice(2, idBytes));
        payload.CopyTo(body[(2 + idBytes)..]);
        Check(body, frame.AsSpan(HeaderBytes + bodyLength, CheckBytes));
        return frame;
    }

    /// <summary>Reads a whole log of <paramref name="vaultId"/>, checking sequence numbers are consecutive.</summary>
    public static VaultLogContents Read(string vaultId, ReadOnlyMemory<byte> log)
    {
        var frames = new List<VaultLogFrame>();
        var offset = 0;
        while (offset < log.Length)
        {
            var status = TryFrame(vaultId, log, offset, out var frame, out var declaredEnd);
            if (status == FrameStatus.Readable)
            {
                Expect(frames, frame!);
                frames.Add(frame!);
                offset = (int)(frame!.Offset + frame.Length);
                continue;
            }

            if (status == FrameStatus.ForAnotherVault)
            {
                throw new VaultLogCorruptException($"A record at offset {offset} of vault {vaultId}'s log belongs to another vault.");
            }

            // Unreadable here. Either the tail of an append that never landed whole (ignored), or a
            // torn record that a later write followed with the same sequence number, or damage.
            var next = FindNextFrame(vaultId, log, offset + 1);
            if (next is null)
            {
                if (status == FrameStatus.Incomplete)
                {
                    return new VaultLogContents(frames, TornTail: true);
                }

                throw new VaultLogCorruptException($"The last record of vault {vaultId}'s log (offset {offset}) fails its checksum.");
            }

            var torn = status == FrameStatus.Incomplete || declaredEnd > next.Offset;
            var expected = frames.Count == 0 ? (long?)null : frames[^1].Sequence + 1;
            if (!torn || expected is null || next.Sequence != expected)
            {
                throw new VaultLogCorruptException($"The record at offset {offset} of vault {vaultId}'s log is unreadable and records follow it.");
            }

            offset = (int)next.Offset;
        }

        return new VaultLogContents(frames, TornTail: false);
    }

    private static void Expect(List<VaultLogFrame> frames, VaultLogFrame frame)
    {
        if (frames.Count == 0)
        {
            if (frame.Kind != VaultLogRecordKind.Checkpoint)
            {
                throw new VaultLogCorruptException($"A vault log starts with a {frame.Kind} record instead of a checkpoint.");
            }

            return;
        }

        var previous = frames[^1];
        if (previous.Kind == VaultLogRecordKind.Seal)
        {
            throw new VaultLogCorruptException($"A record follows the seal of a vault log (sequence {frame.Sequence}).");
        }

        if (frame.Sequence != previous.Sequence + 1 || frame.Kind == VaultLogRecordKind.Checkpoint)
        {
            throw new VaultLogCorruptException($"Vault log sequence {previous.Sequence} is followed by {frame.Kind} {frame.Sequence}.");
        }
    }

    private static VaultLogFrame? FindNextFrame(string vaultId, ReadOnlyMemory<byte> log, int from)
    {
        var span = log.Span;
        for (var at = from; at <= log.Length - HeaderBytes; at++)
        {
            var found = span[at..].IndexOf(Magic);
            if (found < 0)
            {
                return null;
            }

            at += found;
            if (TryFrame(vaultId, log, at, out var frame, out _) == FrameStatus.Readable)
            {
                return frame;
            }
        }

        return null;
    }

    private enum FrameStatus
    {
        Readable,
        Incomplete,
        Damaged,
        ForAnotherVault,
    }

    private static FrameStatus TryFrame(string vaultId, ReadOnlyMemory<byte> log, int offset, out VaultLogFrame? frame, out long declaredEnd)
    {
        frame = null;
        declaredEnd = long.MaxValue;
        var span = log.Span[offset..];
        if (span.Length < HeaderBytes)
        {
            return Magic.StartsWith(span[..Math.Min(span.Length, 4)]) ? FrameStatus.Incomplete : FrameStatus.Damaged;
        }

        var header = span[..HeaderBytes];
        Span<byte> check = stackalloc byte[4];
        Check(header[..20], check);
        if (!header.StartsWith(Magic) || !check.SequenceEqual(header[20..24]))
        {
            return FrameStatus.Damaged;
        }

        if (header[4] != FormatVersion)
        {
            throw new VaultLogCorruptException($"Vault log record format {header[4]} is newer than this silo reads ({FormatVersion}).");
        }

        var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        var total = (long)HeaderBytes + bodyLength + CheckBytes;
        declaredEnd = offset + total;
        if (bodyLength < 2 || total > span.Length)
        {
            return bodyLength < 2 ? FrameStatus.Damaged : FrameStatus.Incomplete;
        }

        var body = span.Slice(HeaderBytes, bodyLength);
        Span<byte> bodyCheck = stackalloc byte[CheckBytes];
        Check(body, bodyCheck);
        if (!bodyCheck.SequenceEqual(span.Slice(HeaderBytes + bodyLength, CheckBytes)))
        {
            return FrameStatus.Damaged;
        }

        var idLength = BinaryPrimitives.ReadUInt16LittleEndian(body);
        if (2 + idLength > bodyLength || Encoding.UTF8.GetString(body.Slice(2, idLength)) != vaultId)
        {
            return FrameStatus.ForAnotherVault;
        }

        frame = new VaultLogFrame(
            (VaultLogRecordKind)header[5],
            BinaryPrimitives.ReadInt64LittleEndian(header[12..]),
            log.Slice(offset + HeaderBytes + 2 + idLength, bodyLength - 2 - idLength),
            offset,
            total);
        return FrameStatus.Readable;
    }

    private static void Check(ReadOnlySpan<byte> data, Span<byte> into)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        hash[..into.Length].CopyTo(into);
    }
}
