using VaultGrains.Domain;

namespace VaultGrains.Grains.Audit;

/// <summary>
/// The ids of the events a trail activation knows are in its chain: every id chained from
/// <see cref="Since"/> on, for the last <c>rememberFor</c>, whatever number of segments that spans.
/// A vault asks whether its events were written up to about ten seconds after staging them; a hot
/// vault fills a segment every few seconds, so remembering by segment sent quiet vaults' questions
/// to storage, which read a minute of segments each time. Ids are kept as their 128-bit ULIDs
/// (about 32 bytes each) in buckets by the time they were chained, so forgetting is dropping a
/// bucket; at most <c>capacity</c> are kept, and a trail busier than that remembers less time.
/// </summary>
internal sealed class ChainedEventIds(TimeSpan rememberFor, int capacity)
{
    private static readonly TimeSpan BucketSpan = TimeSpan.FromSeconds(15);

    private readonly LinkedList<Bucket> buckets = new();
    private int count;

    /// <summary>Every event chained at or after this time (by this trail's clock) is remembered; <see cref="DateTime.MaxValue"/> when none is known to be.</summary>
    public DateTime Since { get; private set; } = DateTime.MaxValue;

    public int Count => count;

    /// <summary>Forgets everything: from <paramref name="since"/> on, what is added is all that was chained.</summary>
    public void Reset(DateTime since)
    {
        buckets.Clear();
        count = 0;
        Since = since;
    }

    /// <summary>An event this trail chained (or read from the segment it appends to) at <paramref name="chainedAt"/>.</summary>
    public void Add(string id, DateTime chainedAt)
    {
        if (!ResourceId.TryParseUlid(id, ResourceId.Event, out var ulid))
        {
            return;
        }

        if (Since == DateTime.MaxValue)
        {
            Since = chainedAt;
        }

        var last = buckets.Last?.Value;
        if (last is null || chainedAt >= last.Start + BucketSpan)
        {
            last = new Bucket(chainedAt);
            buckets.AddLast(last);
        }

        if (last.Ids.Add(ulid))
        {
            count++;
            if (chainedAt > last.End)
            {
                last.End = chainedAt;
            }
        }
    }

    /// <summary>An older event found in storage: remembered like the rest, without claiming anything about the time before <see cref="Since"/>.</summary>
    public void AddFound(string id)
    {
        if (!ResourceId.TryParseUlid(id, ResourceId.Event, out var ulid))
        {
            return;
        }

        var last = buckets.Last?.Value ?? buckets.AddLast(new Bucket(DateTime.MinValue)).Value;
        if (last.Ids.Add(ulid))
        {
            count++;
        }
    }

    public bool Contains(string id)
    {
        if (!ResourceId.TryParseUlid(id, ResourceId.Event, out var ulid))
        {
            return false;
        }

        for (var node = buckets.Last; node is not null; node = node.Previous)
        {
            if (node.Value.Ids.Contains(ulid))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Drops what was chained more than the remembered time before <paramref name="now"/>, or beyond the capacity, oldest first.</summary>
    public void Forget(DateTime now)
    {
        while (buckets.First is { } oldest && oldest != buckets.Last
            && (oldest.Value.End < now - rememberFor || count > capacity))
        {
            buckets.RemoveFirst();
            count -= oldest.Value.Ids.Count;
            // An id chained at the dropped bucket's last instant may also sit in the next bucket;
            // claiming one tick later keeps the claim true.
            var forgottenThrough = oldest.Value.End.AddTicks(1);
            if (Since < forgottenThrough)
            {
                Since = forgottenThrough;
            }
        }
    }

    private sealed class Bucket(DateTime start)
    {
        public DateTime Start { get; } = start;

        public DateTime End { get; set; } = start;

        public HashSet<UInt128> Ids { get; } = [];
    }
}
