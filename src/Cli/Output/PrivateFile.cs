namespace VaultGrains.Cli.Output;

/// <summary>Files only their owner can read (0600) and folders only their owner can enter (0700), created so, never widened for a moment.</summary>
public static class PrivateFile
{
    /// <summary>A new file, mode 0600 (on Windows the user profile's ACLs apply).</summary>
    public static FileStream Create(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(path, options);
    }

    /// <summary>Creates the folder (mode 0700) unless it exists.</summary>
    public static void CreateFolder(string path)
    {
        if (Directory.Exists(path))
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>Writes <paramref name="content"/> to a new 0600 file beside <paramref name="path"/> and moves it over <paramref name="path"/>.</summary>
    public static void Write(string path, string content)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        using (var writer = new StreamWriter(Create(temporary)))
        {
            writer.Write(content);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
