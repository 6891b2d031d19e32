using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>Signals for child processes, and the guarantee that none outlives the test run.</summary>
public static class ChildProcess
{
    private const int SigTerm = 15;
    private const int SigStop = 19;
    private const int SigCont = 18;
    private static readonly ConcurrentDictionary<int, Process> Running = new();

    static ChildProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var process in Running.Values)
            {
                KillQuietly(process);
            }
        };
    }

    /// <summary>Kills the process (and its children) if the test host exits first, whatever the reason.</summary>
    public static void KillOnExit(Process process)
    {
        Running[process.Id] = process;
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => Running.TryRemove(process.Id, out _);
    }

    /// <summary>SIGTERM: the process may finish its work and exit by itself.</summary>
    public static void Terminate(Process process) => Signal(process, SigTerm);

    /// <summary>SIGSTOP: the process freezes (as in a long GC pause or a starved VM) until <see cref="Resume"/>.</summary>
    public static void Freeze(Process process) => Signal(process, SigStop);

    /// <summary>SIGCONT after <see cref="Freeze"/>.</summary>
    public static void Resume(Process process) => Signal(process, SigCont);

    /// <summary>SIGTERM, then SIGKILL if it has not exited within the grace period.</summary>
    public static async Task StopAsync(Process process, TimeSpan grace)
    {
        if (process.HasExited)
        {
            return;
        }

        Terminate(process);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            KillQuietly(process);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>SIGKILL to the process and its descendants, ignoring a process that is already gone.</summary>
    public static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
    }

    private static void Signal(Process process, int signal)
    {
        if (Kill(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {process.Id} failed: errno {Marshal.GetLastWin32Error()}");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
