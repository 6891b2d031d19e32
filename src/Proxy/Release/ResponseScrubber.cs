using System.Buffers;
using System.Text;

namespace VaultGrains.Proxy.Release;

/// <summary>
/// Puts placeholders back where a released value comes back in a response (an echo, an error
/// message quoting the request), so the agent never sees a value. Matches UTF-8 bytes, longest
/// value first; values shorter than <see cref="MinimumValueBytes"/> are skipped because replacing
/// them would corrupt ordinary text.
/// </summary>
public sealed class ResponseScrubber
{
    /// <summary>The shortest value (in UTF-8 bytes) that is scrubbed.</summary>
    public const int MinimumValueBytes = 6;

    // By first byte, longest first, so the first full match found at a position is the longest.
    private readonly Dictionary<byte, Pattern[]> _byFirstByte;
    private readonly SearchValues<byte> _firstBytes;

    /// <summary>Prepares the values of <paramref name="secrets"/>; when two share a value the first one's placeholder is used.</summary>
    public ResponseScrubber(IReadOnlyList<ReleasableSecret> secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        var patterns = new List<Pattern>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var secret in secrets)
        {
            var value = Encoding.UTF8.GetBytes(secret.Value);
            if (value.Length < MinimumValueBytes || !seen.Add(secret.Value))
            {
                continue;
            }

            patterns.Add(new Pattern(value, Encoding.UTF8.GetBytes(PlaceholderRewriter.Prefix + secret.EnvKey)));
        }

        _byFirstByte = patterns
            .GroupBy(p => p.Value[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(p => p.Value.Length).ToArray());
        _firstBytes = SearchValues.Create(_byFirstByte.Keys.ToArray());
        LongestValue = patterns.Count == 0 ? 0 : patterns.Max(p => p.Value.Length);
    }

    /// <summary>True when there is nothing to scrub (no value of at least <see cref="MinimumValueBytes"/> bytes).</summary>
    public bool IsEmpty => LongestValue == 0;

    /// <summary>The longest value in bytes; a stream holds back at most one byte less.</summary>
    public int LongestValue { get; }

    /// <summary>The header value with every value replaced by its placeholder.</summary>
    public string ScrubHeader(string value)
    {
        if (IsEmpty || value.Length == 0)
        {
            return value;
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        var output = new ArrayBufferWriter<byte>(bytes.Length);
        if (!Scrub(bytes, final: true, output, out _))
        {
            return value;
        }

        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    /// <summary>
    /// A write-only stream that scrubs what is written and writes it through to <paramref name="inner"/>,
    /// also when a value is split across writes. Dispose (or <see cref="ScrubbingStream.CompleteAsync"/>)
    /// writes the held-back tail; disposing also disposes <paramref name="inner"/>.
    /// </summary>
    public ScrubbingStream Wrap(Stream inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return new ScrubbingStream(this, inner);
    }

    // Scrubs input into output. Not final: stops at the first position where a value might still
    // begin with bytes not yet written, and reports how many input bytes were consumed; the rest is
    // held back. Final: consumes everything. Returns true when something was replaced.
    internal bool Scrub(ReadOnlySpan<byte> input, bool final, IBufferWriter<byte> output, out int consumed)
    {
        var replaced = false;
        var copied = 0;
        var position = 0;
        consumed = input.Length;
        while (position < input.Length)
        {
            var next = input[position..].IndexOfAny(_firstBytes);
            if (next < 0)
            {
                break;
            }

            position += next;
            var match = Match(input[position..], final, out var pending);
            if (pending)
            {
                consumed = position;
                break;
            }

            if (match is null)
            {
                position++;
                continue;
            }

            output.Write(input[copied..position]);
            output.Write(match.Placeholder);
            replaced = true;
            position += match.Value.Length;
            copied = position;
        }

        output.Write(input[copied..consumed]);
        return replaced;
    }

    // The longest value at the start of rest. Pending when, before the stream ends, a value
    // (at least as long as any full match) could still turn out to start here.
    private Pattern? Match(ReadOnlySpan<byte> rest, bool final, out bool pending)
    {
        pending = false;
        foreach (var pattern in _byFirstByte[rest[0]])
        {
            if (rest.Length >= pattern.Value.Length)
            {
                if (rest.StartsWith(pattern.Value))
                {
                    return pattern;
                }
            }
            else if (!final && pattern.Value.AsSpan().StartsWith(rest))
            {
                pending = true;
                return null;
            }
        }

        return null;
    }

    private sealed record Pattern(byte[] Value, byte[] Placeholder);

    /// <summary>The stream <see cref="Wrap"/> returns.</summary>
    public sealed class ScrubbingStream : Stream
    {
        private readonly ResponseScrubber _scrubber;
        private readonly Stream _inner;
        private readonly ArrayBufferWriter<byte> _output = new();
        private byte[] _held;
        private int _heldCount;
        private bool _disposed;

        internal ScrubbingStream(ResponseScrubber scrubber, Stream inner)
        {
            _scrubber = scrubber;
            _inner = inner;
            _held = new byte[Math.Max(1, scrubber.LongestValue)];
        }

        /// <inheritdoc />
        public override bool CanRead => false;

        /// <inheritdoc />
        public override bool CanSeek => false;

        /// <inheritdoc />
        public override bool CanWrite => !_disposed;

        /// <inheritdoc />
        public override long Length => throw new NotSupportedException();

        /// <inheritdoc />
        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        /// <summary>Writes the held-back bytes (they can no longer start a value) without disposing the inner stream.</summary>
        public async ValueTask CompleteAsync(CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (ProcessTail())
            {
                await _inner.WriteAsync(_output.WrittenMemory, cancellationToken).ConfigureAwait(false);
            }

            await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <inheritdoc />
        public override void Write(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            Write(buffer.AsSpan(offset, count));
        }

        /// <inheritdoc />
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_scrubber.IsEmpty)
            {
                _inner.Write(buffer);
            }
            else if (Process(buffer))
            {
                _inner.Write(_output.WrittenSpan);
            }
        }

        /// <inheritdoc />
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            ValidateBufferArguments(buffer, offset, count);
            return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        }

        /// <inheritdoc />
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_scrubber.IsEmpty)
            {
                await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            else if (Process(buffer.Span))
            {
                await _inner.WriteAsync(_output.WrittenMemory, cancellationToken).ConfigureAwait(false);
            }
        }

        /// <inheritdoc />
        public override void WriteByte(byte value) => Write([value]);

        /// <summary>Flushes what has been written through; bytes that may still begin a value stay held.</summary>
        public override void Flush() => _inner.Flush();

        /// <inheritdoc />
        public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

        /// <inheritdoc />
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        /// <inheritdoc />
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        /// <inheritdoc />
        public override void SetLength(long value) => throw new NotSupportedException();

        /// <inheritdoc />
        public override async ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                if (ProcessTail())
                {
                    await _inner.WriteAsync(_output.WrittenMemory).ConfigureAwait(false);
                }

                await _inner.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                _disposed = true;
                await _inner.DisposeAsync().ConfigureAwait(false);
                GC.SuppressFinalize(this);
            }
        }

        /// <inheritdoc />
        protected override void Dispose(bool disposing)
        {
            if (_disposed || !disposing)
            {
                base.Dispose(disposing);
                return;
            }

            try
            {
                if (ProcessTail())
                {
                    _inner.Write(_output.WrittenSpan);
                }

                _inner.Flush();
            }
            finally
            {
                _disposed = true;
                _inner.Dispose();
                base.Dispose(disposing);
            }
        }

        // Scrubs held + buffer into _output and keeps the undecided tail. True when there is output.
        private bool Process(ReadOnlySpan<byte> buffer)
        {
            _output.ResetWrittenCount();
            if (_heldCount == 0)
            {
                _scrubber.Scrub(buffer, final: false, _output, out var consumed);
                Hold(buffer[consumed..]);
            }
            else
            {
                // The held tail is shorter than the longest value, so this copy is small unless the
                // write is large; only the first bytes of the write can complete a held match.
                var combined = ArrayPool<byte>.Shared.Rent(_heldCount + buffer.Length);
                try
                {
                    _held.AsSpan(0, _heldCount).CopyTo(combined);
                    buffer.CopyTo(combined.AsSpan(_heldCount));
                    var all = combined.AsSpan(0, _heldCount + buffer.Length);
                    _scrubber.Scrub(all, final: false, _output, out var consumed);
                    Hold(all[consumed..]);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(combined, clearArray: true);
                }
            }

            return _output.WrittenCount > 0;
        }

        private bool ProcessTail()
        {
            _output.ResetWrittenCount();
            if (_heldCount == 0)
            {
                return false;
            }

            _scrubber.Scrub(_held.AsSpan(0, _heldCount), final: true, _output, out _);
            _held.AsSpan(0, _heldCount).Clear();
            _heldCount = 0;
            return _output.WrittenCount > 0;
        }

        private void Hold(ReadOnlySpan<byte> tail)
        {
            if (tail.Length > _held.Length)
            {
                _held = new byte[tail.Length];
            }

            tail.CopyTo(_held);
            _held.AsSpan(tail.Length).Clear();
            _heldCount = tail.Length;
        }
    }
}
