using Azure.Storage.Blobs;

namespace VaultGrains.Grains;

/// <summary>
/// Creates a blob container once, on first use, and shares that one attempt with every caller
/// while it runs. A failed attempt is forgotten: a silo that first touched storage during an
/// outage must heal when storage returns, not keep failing on the cached error until a restart.
/// </summary>
internal sealed class BlobContainerCreation(BlobContainerClient container)
{
    private Task? attempt;

    public Task EnsureCreatedAsync()
    {
        var current = Volatile.Read(ref attempt);
        if (current is { IsCompletedSuccessfully: true })
        {
            return Task.CompletedTask;
        }

        if (current is null || current.IsFaulted || current.IsCanceled)
        {
            var next = container.CreateIfNotExistsAsync();
            // Two callers that both saw the failure may both ask; CreateIfNotExists makes that harmless.
            current = Interlocked.CompareExchange(ref attempt, next, current) == current ? next : Volatile.Read(ref attempt)!;
        }

        return current;
    }
}
