using System.Text;

namespace VaultGrains.Cli.Output;

/// <summary>Columns padded to their widest cell, two spaces apart, headers in capitals: easy to read and to <c>awk</c>.</summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> rows = [];

    public Table Add(params string[] cells)
    {
        rows.Add(cells);
        return this;
    }

    public override string ToString()
    {
        var widths = headers.Select((header, column) => rows.Select(row => row[column].Length).Append(header.Length).Max()).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows.Prepend(headers))
        {
            var line = string.Join("  ", row.Select((cell, column) => column == row.Length - 1 ? cell : cell.PadRight(widths[column])));
            text.Append(line.TrimEnd()).Append('\n');
        }

        return text.ToString();
    }
}
