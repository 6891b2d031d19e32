using System.Diagnostics;
using VaultGrains.Grains.Crypto;

// The cost of the per-value envelope on the hot path: a fresh data key, AES-256-GCM with the
// binding as associated data, the data key wrapped by the vault key (AES-KWP); and back.
// No key service call is involved: the vault key is unwrapped once per activation.
// Run: dotnet run -c Release --project bench/CryptoCost [-- seconds-per-size]
var secondsPerSize = args.Length > 0 && double.TryParse(args[0], out var s) ? s : 2.0;
var binding = new SecretBinding("org_01KQ27AQH800XQTQPJZ0DH14SJ", "vlt_01KQ27AQH800XQTQPJZ0DH14SK", "sec_01KQ27AQH800XQTQPJZ0DH14SM", 1);
using var vaultKey = VaultKey.Generate(out _);

Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores, {secondsPerSize:0.#} s per size, median of 5 rounds");
Console.WriteLine($"{"value",8} {"encrypt ns/op",14} {"decrypt ns/op",14} {"both ns/op",12}");
foreach (var size in new[] { 32, 1024, 64 * 1024 })
{
    var plaintext = new string('x', size);
    var encrypted = SecretCipher.Encrypt(vaultKey, binding, plaintext);
    var encrypt = Measure(() => SecretCipher.Encrypt(vaultKey, binding, plaintext), secondsPerSize / 2);
    var decrypt = Measure(() => SecretCipher.Decrypt(vaultKey, binding, encrypted), secondsPerSize / 2);
    var label = size >= 1024 ? $"{size / 1024} KiB" : $"{size} B";
    Console.WriteLine($"{label,8} {encrypt,14:N0} {decrypt,14:N0} {encrypt + decrypt,12:N0}");
}

static double Measure(Func<object> operation, double seconds)
{
    // Warm up (JIT, tiered compilation), then size a batch to about 1/10 of a round.
    var clock = Stopwatch.StartNew();
    var batch = 0L;
    while (clock.Elapsed.TotalSeconds < Math.Min(0.5, seconds / 4))
    {
        GC.KeepAlive(operation());
        batch++;
    }

    var perRound = Math.Max(1, (long)(batch / clock.Elapsed.TotalSeconds * seconds / 5));
    var rounds = new double[5];
    for (var round = 0; round < rounds.Length; round++)
    {
        clock.Restart();
        for (var i = 0L; i < perRound; i++)
        {
            GC.KeepAlive(operation());
        }

        rounds[round] = clock.Elapsed.TotalNanoseconds / perRound;
    }

    Array.Sort(rounds);
    return rounds[rounds.Length / 2];
}
