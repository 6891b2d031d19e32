using System.Text;
using VaultGrains.Proxy.Release;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// A released value that comes back in a response is replaced by its placeholder before the agent
/// sees it: in headers, and in a body written in pieces, wherever the pieces split the value.
/// </summary>
public sealed class ResponseScrubberTests
{
    private const string Value = "sk_live_0123456789abcdef";

    private static ReleasableSecret Secret(string envKey, string value) => new("vlt_1", $"sec_{envKey}", envKey, [], value);

    private static ResponseScrubber Scrubber(params ReleasableSecret[] secrets) => new(secrets);

    [Fact]
    public void A_value_in_a_header_is_replaced_by_its_placeholder()
    {
        var scrubber = Scrubber(Secret("API_KEY", Value));
        Assert.Equal("echo CCASECRET_API_KEY and CCASECRET_API_KEY", scrubber.ScrubHeader($"echo {Value} and {Value}"));
        const string clean = "nothing to see";
        Assert.Same(clean, scrubber.ScrubHeader(clean));
    }

    [Fact]
    public void Values_shorter_than_six_bytes_are_not_scrubbed()
    {
        var scrubber = Scrubber(Secret("SHORT", "abcde"), Secret("SIX", "abcdef"));
        Assert.Equal("abcde CCASECRET_SIX", scrubber.ScrubHeader("abcde abcdef"));
        Assert.True(Scrubber(Secret("SHORT", "12345")).IsEmpty);
        Assert.False(scrubber.IsEmpty);
    }

    [Fact]
    public void The_longest_value_wins_where_values_overlap()
    {
        var scrubber = Scrubber(Secret("SHORT", "secret"), Secret("LONG", "secret-extended"));
        Assert.Equal("CCASECRET_LONG CCASECRET_SHORT-ext", scrubber.ScrubHeader("secret-extended secret-ext"));
    }

    [Fact]
    public void Multibyte_values_are_matched_as_utf8()
    {
        var scrubber = Scrubber(Secret("UNICODE", "pässwörd€"));
        Assert.Equal("[CCASECRET_UNICODE]", scrubber.ScrubHeader("[pässwörd€]"));
    }

    public static TheoryData<int> SplitPositions()
    {
        var data = new TheoryData<int>();
        var length = Encoding.UTF8.GetByteCount($"before {Value} after");
        for (var split = 0; split <= length; split++)
        {
            data.Add(split);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SplitPositions))]
    public async Task A_value_split_across_two_writes_at_any_byte_is_replaced(int split)
    {
        var body = Encoding.UTF8.GetBytes($"before {Value} after");
        var inner = new MemoryStream();
        var stream = Scrubber(Secret("API_KEY", Value)).Wrap(inner);

        await stream.WriteAsync(body.AsMemory(0, split));
        await stream.FlushAsync();
        await stream.WriteAsync(body.AsMemory(split));
        await stream.FlushAsync();
        await stream.CompleteAsync(CancellationToken.None);

        Assert.Equal("before CCASECRET_API_KEY after", Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public async Task A_value_written_one_byte_at_a_time_is_replaced()
    {
        var inner = new MemoryStream();
        var stream = Scrubber(Secret("API_KEY", Value)).Wrap(inner);
        foreach (var b in Encoding.UTF8.GetBytes($"x{Value}y{Value}"))
        {
            await stream.WriteAsync(new[] { b });
        }

        await stream.DisposeAsync();
        Assert.Equal("xCCASECRET_API_KEYyCCASECRET_API_KEY", Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public async Task A_value_at_the_very_end_of_the_stream_is_replaced()
    {
        var inner = new MemoryStream();
        var stream = Scrubber(Secret("API_KEY", Value)).Wrap(inner);
        await stream.WriteAsync(Encoding.UTF8.GetBytes("tail: " + Value[..10]));
        await stream.WriteAsync(Encoding.UTF8.GetBytes(Value[10..]));
        await stream.CompleteAsync(CancellationToken.None);

        Assert.Equal("tail: CCASECRET_API_KEY", Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public async Task A_held_back_prefix_that_never_completes_is_written_on_completion_unchanged()
    {
        var inner = new MemoryStream();
        var stream = Scrubber(Secret("API_KEY", Value)).Wrap(inner);
        var prefix = "ends with " + Value[..^1];
        await stream.WriteAsync(Encoding.UTF8.GetBytes(prefix));
        await stream.FlushAsync();

        // Held back, at most one byte shorter than the value, until it cannot start a match.
        Assert.Equal("ends with ", Encoding.UTF8.GetString(inner.ToArray()));

        await stream.CompleteAsync(CancellationToken.None);
        Assert.Equal(prefix, Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public async Task A_shorter_value_inside_a_held_back_tail_is_still_replaced_at_the_end()
    {
        var inner = new MemoryStream();
        var stream = Scrubber(Secret("LONG", "abcdefgh-long-value"), Secret("SHORT", "cdefgh")).Wrap(inner);
        await stream.WriteAsync(Encoding.UTF8.GetBytes("xx abcdefgh"));
        await stream.FlushAsync();

        // "abcdefgh" may still become the long value, so all of it waits.
        Assert.Equal("xx ", Encoding.UTF8.GetString(inner.ToArray()));

        await stream.CompleteAsync(CancellationToken.None);
        Assert.Equal("xx abCCASECRET_SHORT", Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public async Task Chunks_without_a_value_pass_through_unchanged_and_at_once()
    {
        var inner = new MemoryStream();
        var stream = Scrubber(Secret("API_KEY", Value)).Wrap(inner);
        var chunk = new byte[64 * 1024];
        new Random(7).NextBytes(chunk);
        // No byte can start the value, so nothing is held back.
        for (var i = 0; i < chunk.Length; i++)
        {
            if (chunk[i] == (byte)'s')
            {
                chunk[i] = (byte)'t';
            }
        }

        await stream.WriteAsync(chunk);
        await stream.FlushAsync();
        Assert.Equal(chunk, inner.ToArray());

        await stream.WriteAsync(chunk);
        await stream.CompleteAsync(CancellationToken.None);
        Assert.Equal(chunk.Concat(chunk).ToArray(), inner.ToArray());
    }

    [Fact]
    public void Synchronous_writes_and_dispose_scrub_and_dispose_the_inner_stream()
    {
        var inner = new MemoryStream();
        var bytes = Encoding.UTF8.GetBytes($"a{Value}b");
        using (var stream = Scrubber(Secret("API_KEY", Value)).Wrap(inner))
        {
            stream.Write(bytes, 0, 5);
            stream.Write(bytes, 5, bytes.Length - 5);
        }

        Assert.Equal("aCCASECRET_API_KEYb", Encoding.UTF8.GetString(inner.ToArray()));
        Assert.False(inner.CanWrite);
    }

    [Fact]
    public async Task Complete_leaves_the_inner_stream_open()
    {
        var inner = new MemoryStream();
        var stream = Scrubber(Secret("API_KEY", Value)).Wrap(inner);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(Value));
        await stream.CompleteAsync(CancellationToken.None);
        Assert.True(inner.CanWrite);
        Assert.Equal("CCASECRET_API_KEY", Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public async Task An_empty_scrubber_passes_everything_through()
    {
        var inner = new MemoryStream();
        var scrubber = Scrubber();
        Assert.True(scrubber.IsEmpty);
        var stream = scrubber.Wrap(inner);
        await stream.WriteAsync(Encoding.UTF8.GetBytes("plain"));
        await stream.CompleteAsync(CancellationToken.None);
        Assert.Equal("plain", Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public void Two_secrets_with_the_same_value_use_the_first_placeholder()
    {
        var scrubber = Scrubber(Secret("FIRST", "shared-value"), Secret("SECOND", "shared-value"));
        Assert.Equal("CCASECRET_FIRST", scrubber.ScrubHeader("shared-value"));
    }
}
