using global::VaultGrains.Cli.Dotenv;

namespace VaultGrains.Tests.Cli;

/// <summary>The dotenv reading rules on their own, line by line.</summary>
public sealed class DotenvParserTests
{
    [Theory]
    [InlineData("A=plain", "plain")]
    [InlineData("A = spaced  ", "spaced")]
    [InlineData("export A=exported", "exported")]
    [InlineData("A=value # comment", "value")]
    [InlineData("A=va#lue", "va#lue")]
    [InlineData("A=\"double # not a comment\"", "double # not a comment")]
    [InlineData("A='single \\n $HOME'", "single \\n $HOME")]
    [InlineData("A=`back 'tick'`", "back 'tick'")]
    [InlineData("A=\"esc\\n\\t\\\"\\\\\"", "esc\n\t\"\\")]
    [InlineData("A=\"unknown \\x escape\"", "unknown \\x escape")]
    [InlineData("A=\"multi\nline\"", "multi\nline")]
    [InlineData("A=\"crlf\r\nline\"\r\n", "crlf\nline")]
    [InlineData("A=", "")]
    [InlineData("\uFEFFA=bom", "bom")]
    public void Reads_a_value_as_dotenv_tools_do(string text, string value)
    {
        var file = DotenvParser.Parse(text);
        Assert.Empty(file.Problems);
        Assert.Equal(("A", value), (file.Entries.Single().Key, file.Entries.Single().Value));
    }

    [Fact]
    public void Comments_and_blank_lines_are_skipped_and_the_last_repeat_wins_in_first_order()
    {
        var file = DotenvParser.Parse("# c\n\n  # indented\nB=1\nA=2\nB=3\n");
        Assert.Equal([("B", "3", 6), ("A", "2", 5)], file.Effective().Select(e => (e.Key, e.Value, e.Line)));
    }

    [Theory]
    [InlineData("A", "line 1: expected '=' after 'A'")]
    [InlineData("A-B=1", "line 1: 'A-B' is not a valid env_key (letters, digits and _, not starting with a digit)")]
    [InlineData("A B=1", "line 1: expected '=' after 'A'")]
    [InlineData("1A=1", "line 1: '1A' is not a valid env_key (letters, digits and _, not starting with a digit)")]
    [InlineData("A=\"open", "line 1: the \" quote opened on line 1 is never closed")]
    [InlineData("A='x' y", "line 1: unexpected text after the closing quote of A")]
    [InlineData("=x", "line 1: expected KEY=value")]
    public void A_bad_line_is_reported(string text, string problem) =>
        Assert.Equal([problem], DotenvParser.Parse(text).Problems);
}
