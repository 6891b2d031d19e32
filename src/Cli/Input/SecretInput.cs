using System.Text;

namespace VaultGrains.Cli.Input;

/// <summary>
/// Reads what must never be a command-line argument (a secret value, an API key): from a file, from
/// standard input when it is redirected, or from a prompt on the terminal that does not echo.
/// </summary>
public static class SecretInput
{
    /// <summary>
    /// A file's exact content; or standard input, less one trailing newline (what <c>echo</c> and a
    /// here-string add); or a no-echo prompt. Empty is refused here, before any request.
    /// </summary>
    public static string Read(string what, string? file)
    {
        string value;
        if (file is not null && file != "-")
        {
            try
            {
                value = File.ReadAllText(file, new UTF8Encoding(false, true));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
            {
                throw new CliException($"cannot read {file}: {e.Message}");
            }
        }
        else if (Console.IsInputRedirected || file == "-")
        {
            value = WithoutOneTrailingNewline(Console.In.ReadToEnd());
        }
        else
        {
            value = Prompt($"{what}: ");
        }

        return value.Length > 0 ? value : throw new CliException($"{what} cannot be empty");
    }

    /// <summary>Reads a line from the terminal without echoing it.</summary>
    public static string Prompt(string prompt)
    {
        Console.Error.Write(prompt);
        var typed = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (typed.Length > 0)
                {
                    typed.Length--;
                }

                continue;
            }

            if (key.KeyChar != '\0')
            {
                typed.Append(key.KeyChar);
            }
        }

        Console.Error.WriteLine();
        return typed.ToString();
    }

    private static string WithoutOneTrailingNewline(string text) =>
        text.EndsWith("\r\n", StringComparison.Ordinal) ? text[..^2] : text.EndsWith('\n') ? text[..^1] : text;
}
