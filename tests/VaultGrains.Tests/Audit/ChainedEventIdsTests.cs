using VaultGrains.Domain;
using VaultGrains.Grains.Audit;

namespace VaultGrains.Tests.Audit;

public sealed class ChainedEventIdsTests
{
    private static readonly DateTime Start = new(2026, 12, 7, 8, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void Ids_chained_within_the_window_are_remembered_however_many_were_added_since()
    {
        var chained = new ChainedEventIds(TimeSpan.FromMinutes(2), capacity: 1_000_000);
        chained.Reset(DateTime.MaxValue);
        var first = NewId();
        chained.Add(first, Start);
        for (var second = 1; second <= 100; second++)
        {
            for (var i = 0; i < 50; i++)
            {
                chained.Add(NewId(), Start.AddSeconds(second));
            }

            chained.Forget(Start.AddSeconds(second));
        }

        Assert.True(chained.Contains(first));
        Assert.Equal(Start, chained.Since);
        Assert.Equal(5_001, chained.Count);
        Assert.False(chained.Contains(NewId()));
    }

    [Fact]
    public void Ids_older_than_the_window_are_forgotten_and_the_claim_moves_past_them()
    {
        var chained = new ChainedEventIds(TimeSpan.FromMinutes(2), capacity: 1_000_000);
        chained.Reset(DateTime.MaxValue);
        var old = NewId();
        chained.Add(old, Start);
        var recent = NewId();
        chained.Add(recent, Start.AddMinutes(3));
        chained.Forget(Start.AddMinutes(3));

        Assert.False(chained.Contains(old));
        Assert.True(chained.Contains(recent));
        Assert.True(chained.Since > Start, $"claims memory of ids chained from {chained.Since:O}, after forgetting one chained at {Start:O}");
        Assert.True(chained.Since <= Start.AddMinutes(3));
    }

    [Fact]
    public void Past_its_capacity_it_forgets_the_oldest_ids_first()
    {
        var chained = new ChainedEventIds(TimeSpan.FromHours(1), capacity: 100);
        chained.Reset(DateTime.MaxValue);
        var oldest = Enumerable.Range(0, 80).Select(_ => NewId()).ToList();
        oldest.ForEach(id => chained.Add(id, Start));
        var newest = Enumerable.Range(0, 80).Select(_ => NewId()).ToList();
        newest.ForEach(id => chained.Add(id, Start.AddMinutes(1)));
        chained.Forget(Start.AddMinutes(1));

        Assert.All(oldest, id => Assert.False(chained.Contains(id)));
        Assert.All(newest, id => Assert.True(chained.Contains(id)));
        Assert.True(chained.Since > Start);
    }

    [Fact]
    public void A_trail_that_never_wrote_answers_for_everything_until_it_forgets()
    {
        var chained = new ChainedEventIds(TimeSpan.FromMinutes(2), capacity: 1_000_000);
        chained.Reset(DateTime.MinValue);
        chained.Add(NewId(), Start);
        Assert.Equal(DateTime.MinValue, chained.Since);

        chained.Add(NewId(), Start.AddMinutes(5));
        chained.Forget(Start.AddMinutes(5));
        Assert.True(chained.Since > Start);
    }

    [Fact]
    public void An_id_found_in_storage_is_remembered_without_claiming_the_time_before()
    {
        var chained = new ChainedEventIds(TimeSpan.FromMinutes(2), capacity: 1_000_000);
        chained.Reset(DateTime.MaxValue);
        var found = NewId();
        chained.AddFound(found);
        Assert.True(chained.Contains(found));
        Assert.Equal(DateTime.MaxValue, chained.Since);

        chained.Add(NewId(), Start);
        Assert.Equal(Start, chained.Since);
        Assert.True(chained.Contains(found));
    }

    [Fact]
    public void Every_well_formed_event_id_has_its_own_128_bit_value_and_nothing_else_parses()
    {
        var random = new byte[10];
        var low = ResourceId.Of(ResourceId.Event, DateTimeOffset.FromUnixTimeMilliseconds(1), random);
        random[9] = 1;
        var next = ResourceId.Of(ResourceId.Event, DateTimeOffset.FromUnixTimeMilliseconds(1), random);
        // The largest ULID: 48 bits of time and 80 of randomness, all ones.
        var high = "evt_7" + new string('Z', 25);

        Assert.True(ResourceId.TryParseUlid(low, ResourceId.Event, out var lowValue));
        Assert.True(ResourceId.TryParseUlid(next, ResourceId.Event, out var nextValue));
        Assert.True(ResourceId.TryParseUlid(high, ResourceId.Event, out var highValue));
        Assert.Equal((UInt128)1 << 80, lowValue);
        Assert.Equal(lowValue + 1, nextValue);
        Assert.Equal(UInt128.MaxValue, highValue);

        var ids = Enumerable.Range(0, 10_000).Select(_ => NewId()).ToList();
        var values = ids.Select(id => ResourceId.TryParseUlid(id, ResourceId.Event, out var value) ? value : throw new InvalidOperationException(id)).ToHashSet();
        Assert.Equal(ids.Count, values.Count);

        Assert.False(ResourceId.TryParseUlid(low.Replace("evt_", "sec_"), ResourceId.Event, out _));
        Assert.False(ResourceId.TryParseUlid(low[..^1], ResourceId.Event, out _));
        Assert.False(ResourceId.TryParseUlid(low[..^1] + "U", ResourceId.Event, out _));
        Assert.False(ResourceId.TryParseUlid(low[..^1] + "é", ResourceId.Event, out _));
        Assert.False(ResourceId.TryParseUlid("evt_8" + low[5..], ResourceId.Event, out _));
    }

    private static string NewId() => ResourceId.New(ResourceId.Event);
}
