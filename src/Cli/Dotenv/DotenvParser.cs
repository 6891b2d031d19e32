using System.Text;
using System.Text.RegularExpressions;

namespace VaultGrains.Cli.Dotenv;

/// <summary>One <c>KEY=value</c> of a dotenv file, and the line it starts on.</summary>
public sealed record DotenvEntry(string Key, string Value, int Line);

/// <summary>
/// Reads a dotenv file as python-dotenv and Node's dotenv read one: blank lines and <c>#</c> comments
/// ignored; an optional <c>export</c>; spaces around <c>=</c>; unquoted values trimmed, with a
/// <c> #</c> comment cut off; single- and back-quoted values taken literally; double-quoted values with
/// <c>\n \t \r \" \\</c> (and <c>\a \b \f \v \'</c>) escapes; quoted values may span lines. No
/// <c>${VAR}</c> expansion: a secret is stored as written. The whole file is read before anything is
/// sent, and every bad line is reported at once.
/// </summary>
public static partial class DotenvParser
{
    /// <summary>The entries in file order (a key repeated later wins, as in dotenv tools), or every problem found.</summary>
    public static DotenvFile Parse(string text)
    {
        var reader = new Reader(text.StartsWith('\uFEFF') ? text[1..] : text);
        var entries = new List<DotenvEntry>();
        var problems = new List<string>();
        while (!reader.AtEnd)
        {
            var line = reader.Line;
            try
            {
                if (ParseLine(reader) is { } entry)
                {
                    entries.Add(entry with { Line = line });
                }
            }
            catch (FormatException e)
            {
                problems.Add($"line {line}: {e.Message}");
                reader.SkipRestOfLine();
            }
        }

        return new DotenvFile(entries, problems);
    }

    private static DotenvEntry? ParseLine(Reader reader)
    {
        reader.SkipBlanks();
        if (reader.AtEndOfLine || reader.Peek == '#')
        {
            reader.SkipRestOfLine();
            return null;
        }

        var key = reader.ReadWhile(c => c is not ('=' or ' ' or '\t' or '\n'));
        if (key == "export" && reader.Peek is ' ' or '\t')
        {
            reader.SkipBlanks();
            key = reader.ReadWhile(c => c is not ('=' or ' ' or '\t' or '\n'));
        }

        reader.SkipBlanks();
        if (reader.Peek != '=')
        {
            throw new FormatException(key.Length == 0 ? "expected KEY=value" : $"expected '=' after {Describe(key)}");
        }

        if (key.Length == 0)
        {
            throw new FormatException("expected KEY=value");
        }

        if (!EnvKey().IsMatch(key))
        {
            throw new FormatException($"{Describe(key)} is not a valid env_key (letters, digits and _, not starting with a digit)");
        }

        reader.Next();
        reader.SkipBlanks();
        var value = reader.Peek switch
        {
            '"' => reader.ReadQuoted('"', escapes: true),
            '\'' => reader.ReadQuoted('\'', escapes: false),
            '`' => reader.ReadQuoted('`', escapes: false),
            _ => null,
        };

        if (value is null)
        {
            value = UnquotedValue(reader.ReadWhile(c => c != '\n'));
        }
        else
        {
            reader.SkipBlanks();
            if (!reader.AtEndOfLine && reader.Peek != '#')
            {
                throw new FormatException($"unexpected text after the closing quote of {key}");
            }
        }

        reader.SkipRestOfLine();
        return new DotenvEntry(key, value, 0);
    }

    // "a b # note" -> "a b": a comment starts at a '#' after whitespace, as in python-dotenv.
    private static string UnquotedValue(string raw)
    {
        raw = raw.TrimEnd('\r');
        var comment = InlineComment().Match(raw);
        return (comment.Success ? raw[..comment.Index] : raw).Trim();
    }

    private static string Describe(string key) => key.Length > 40 ? $"'{key[..40]}…'" : $"'{key}'";

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvKey();

    [GeneratedRegex(@"[ \t]#")]
    private static partial Regex InlineComment();

    private sealed class Reader(string text)
    {
        private int position;

        public int Line { get; private set; } = 1;

        public bool AtEnd => position >= text.Length;

        public bool AtEndOfLine => AtEnd || text[position] == '\n' || (text[position] == '\r' && (position + 1 == text.Length || text[position + 1] == '\n'));

        public char Peek => AtEnd ? '\0' : text[position];

        public char Next()
        {
            var c = text[position++];
            if (c == '\n')
            {
                Line++;
            }

            return c;
        }

        public void SkipBlanks()
        {
            while (Peek is ' ' or '\t')
            {
                position++;
            }
        }

        public void SkipRestOfLine()
        {
            while (!AtEnd && Next() != '\n')
            {
            }
        }

        public string ReadWhile(Func<char, bool> accept)
        {
            var start = position;
            while (!AtEnd && accept(text[position]))
            {
                position++;
            }

            return text[start..position];
        }

        /// <summary>From an opening quote to its closing one, across lines; CRLF inside becomes LF.</summary>
        public string ReadQuoted(char quote, bool escapes)
        {
            var startLine = Line;
            Next();
            var value = new StringBuilder();
            while (true)
            {
                if (AtEnd)
                {
                    throw new FormatException($"the {quote} quote opened on line {startLine} is never closed");
                }

                var c = Next();
                if (c == quote)
                {
                    return value.ToString();
                }

                if (c == '\r' && Peek == '\n')
                {
                    continue;
                }

                if (escapes && c == '\\' && !AtEnd)
                {
                    var escaped = Peek;
                    var decoded = escaped switch
                    {
                        'n' => "\n",
                        'r' => "\r",
                        't' => "\t",
                        'a' => "\a",
                        'b' => "\b",
                        'f' => "\f",
                        'v' => "\v",
                        '"' => "\"",
                        '\'' => "'",
                        '\\' => "\\",
                        _ => null,
                    };
                    if (decoded is not null)
                    {
                        Next();
                        value.Append(decoded);
                        continue;
                    }
                }

                value.Append(c);
            }
        }
    }
}

/// <summary>A parsed file: its entries, and what is wrong with it (nothing is imported unless this is empty).</summary>
public sealed record DotenvFile(IReadOnlyList<DotenvEntry> Entries, IReadOnlyList<string> Problems)
{
    public bool IsValid => Problems.Count == 0;

    /// <summary>One entry per key, the last one in the file winning, in the order keys first appear.</summary>
    public IReadOnlyList<DotenvEntry> Effective()
    {
        var last = new Dictionary<string, DotenvEntry>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var entry in Entries)
        {
            if (!last.ContainsKey(entry.Key))
            {
                order.Add(entry.Key);
            }

            last[entry.Key] = entry;
        }

        return order.Select(key => last[key]).ToList();
    }
}
