using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace VaultGrains.Cli.Run;

/// <summary>
/// The command <c>run</c> starts: same terminal and standard streams, the given environment, SIGINT,
/// SIGTERM and SIGHUP forwarded, and its exit code returned (128 + the signal when a signal ended it).
/// </summary>
public static class ChildCommand
{
    private const int Errno2NotFound = 2;
    private const int Errno13Denied = 13;

    public static async Task<int> RunAsync(string command, IReadOnlyList<string> arguments, Action<IDictionary<string, string?>> environment)
    {
        var start = new ProcessStartInfo(command) { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        environment(start.Environment);

        Process? child = null;
        int? signalledBeforeStart = null;
        var gate = new object();

        // Our own handlers, so the tool outlives the signal long enough to pass it on and clean up.
        void Forward(PosixSignalContext context)
        {
            context.Cancel = true;
            var signal = Native.Number(context.Signal);
            lock (gate)
            {
                if (child is null)
                {
                    signalledBeforeStart ??= signal;
                    return;
                }

                // Ctrl-C in a terminal reaches the whole foreground process group, the child
                // included: passing it on again would be a second Ctrl-C (which many agents read as "quit").
                if (context.Signal == PosixSignal.SIGINT && Native.ForegroundOfTerminal())
                {
                    return;
                }

                Native.Kill(child.Id, signal);
            }
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward);
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Forward);

        lock (gate)
        {
            if (signalledBeforeStart is { } early)
            {
                return 128 + early;
            }

            try
            {
                child = Process.Start(start)!;
            }
            catch (Win32Exception e) when (e.NativeErrorCode == Errno2NotFound)
            {
                throw new CliException($"{command}: command not found", ExitCodes.CommandNotFound);
            }
            catch (Win32Exception e) when (e.NativeErrorCode == Errno13Denied)
            {
                throw new CliException($"{command}: permission denied", ExitCodes.CannotExecute);
            }
        }

        using (child)
        {
            await child.WaitForExitAsync();

            // .NET reports a child ended by a signal as 128 + the signal, as shells do.
            return child.ExitCode;
        }
    }

    private static class Native
    {
        public static int Number(PosixSignal signal) => signal switch
        {
            PosixSignal.SIGHUP => 1,
            PosixSignal.SIGINT => 2,
            PosixSignal.SIGQUIT => 3,
            PosixSignal.SIGTERM => 15,
            _ => throw new ArgumentOutOfRangeException(nameof(signal)),
        };

        public static void Kill(int pid, int signal) => kill(pid, signal);

        /// <summary>True when one of our standard streams is a terminal whose foreground process group is ours.</summary>
        public static bool ForegroundOfTerminal()
        {
            var group = getpgrp();
            for (var fd = 0; fd <= 2; fd++)
            {
                if (tcgetpgrp(fd) == group)
                {
                    return true;
                }
            }

            return false;
        }

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int kill(int pid, int sig);

        [DllImport("libc", EntryPoint = "getpgrp")]
        private static extern int getpgrp();

        [DllImport("libc", EntryPoint = "tcgetpgrp")]
        private static extern int tcgetpgrp(int fd);
    }
}
