using System.Net;
using System.Net.Sockets;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// Ports for a process a test stops and starts again on the same port. They come from below the
/// kernel's ephemeral range: a free port inside it can be taken meanwhile as the local port of any
/// outgoing connection on the machine (a run.sh silo restarted 16 s after its kill once found its
/// gateway port taken so), one below it only by another listener.
/// </summary>
public static class ReusablePorts
{
    private static readonly (int Low, int High) Range = BelowEphemeralRange();

    public static int Free() => FreeRange(1);

    /// <summary>The first of <paramref name="count"/> consecutive free ports.</summary>
    public static int FreeRange(int count)
    {
        for (var attempt = 0; attempt < 500; attempt++)
        {
            var first = Random.Shared.Next(Range.Low, Range.High - count);
            if (Enumerable.Range(first, count).All(IsFree))
            {
                return first;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports in {Range.Low}-{Range.High}");
    }

    private static (int Low, int High) BelowEphemeralRange()
    {
        try
        {
            // Linux: "32768\t60999".
            var first = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0]);
            if (first >= 12_000)
            {
                return (10_000, first);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
        }

        return (41_000, 59_000);
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
