namespace VaultGrains.Cli;

/// <summary>A failure the tool reports as one line (or <c>{"error":"…"}</c> with <c>--json</c>) and a non-zero exit code.</summary>
public class CliException(string message, int exitCode = ExitCodes.Failure) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The exit codes of the tool itself; <c>run</c> otherwise returns its command's.</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The API refused, or something the tool needs is missing or wrong.</summary>
    public const int Failure = 1;

    /// <summary><c>run</c> failed before its command started (as <c>docker run</c> does).</summary>
    public const int RunFailed = 125;

    /// <summary><c>run</c>: the command exists but cannot be executed.</summary>
    public const int CannotExecute = 126;

    /// <summary><c>run</c>: the command was not found.</summary>
    public const int CommandNotFound = 127;
}
