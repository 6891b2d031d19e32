using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace VaultGrains.Grains.Idempotency;

[GenerateSerializer, Alias("VaultGrains.Grains.IdempotencyState")]
internal sealed class IdempotencyState
{
    /// <summary>Keyed fingerprint of the request (method, path, body); null when there is no record.</summary>
    [Id(0)] public byte[]? Fingerprint { get; set; }

    /// <summary>The seed of the resource ids and credentials, sealed by the front end.</summary>
    [Id(1)] public byte[]? SealedSeed { get; set; }

    [Id(2)] public DateTime FirstAttemptAt { get; set; }

    /// <summary>The attempt that holds the key, or <see cref="Guid.Empty"/> when none runs.</summary>
    [Id(3)] public Guid Attempt { get; set; }

    /// <summary>When a running attempt whose front end went silent may be taken over.</summary>
    [Id(4)] public DateTime LeaseUntil { get; set; }

    /// <summary>An attempt ended without a known outcome: what it did may exist.</summary>
    [Id(5)] public bool EarlierAttemptMayHaveRun { get; set; }

    [Id(6)] public IdempotentResponse? Response { get; set; }
}

/// <summary>
/// One Idempotency-Key of one caller. Non-reentrant, so claims are decided one at a time; only
/// <see cref="WaitForOutcome"/> interleaves, and it only waits.
/// </summary>
internal sealed class IdempotencyGrain(
    [PersistentState("idempotency", StorageNames.Idempotency)] IPersistentState<IdempotencyState> storage,
    TimeProvider clock,
    ILogger<IdempotencyGrain> logger) : Grain, IIdempotencyGrain
{
    /// <summary>How long a record answers repeats (API.md: 24 hours), from the first attempt.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    /// <summary>
    /// How long a running attempt keeps the key without an outcome before another attempt may take
    /// over: longer than any request can run (the API gives each grain call at most about 10 s).
    /// </summary>
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);

    private TaskCompletionSource? attemptEnded;

    private IdempotencyState State => storage.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Lazy expiry: a record read after its 24 hours is removed (rows never read again are left
        // to the sweep described in README.md).
        if (State.Fingerprint is not null && IsExpired(Now()))
        {
            await storage.ClearStateAsync();
        }
    }

    public async Task<IdempotencyDecision> Begin(IdempotentRequest request)
    {
        var now = Now();
        if (State.Fingerprint is not null && IsExpired(now))
        {
            await storage.ClearStateAsync();
        }

        if (State.Fingerprint is null)
        {
            State.Fingerprint = request.Fingerprint;
            State.SealedSeed = request.SealedSeed;
            State.FirstAttemptAt = now;
            State.EarlierAttemptMayHaveRun = false;
            await ClaimAsync(request.Attempt, now);
            return Proceed();
        }

        if (!CryptographicOperations.FixedTimeEquals(State.Fingerprint, request.Fingerprint))
        {
            return new IdempotencyDecision(IdempotencyOutcome.Mismatch);
        }

        if (State.Response is { } response)
        {
            return new IdempotencyDecision(IdempotencyOutcome.Replay, Response: response);
        }

        if (State.Attempt == request.Attempt)
        {
            return Proceed();
        }

        if (State.Attempt != Guid.Empty && now < State.LeaseUntil)
        {
            return new IdempotencyDecision(IdempotencyOutcome.InProgress);
        }

        // The last attempt ended without a known outcome, or its front end went silent past the
        // lease: this one runs again with the same seed, so it finds what that one did.
        if (State.Attempt != Guid.Empty)
        {
            logger.LogWarning("Idempotency record {Key}: attempt {Attempt} passed its lease without an outcome; taken over", this.GetPrimaryKeyString(), State.Attempt);
        }

        State.EarlierAttemptMayHaveRun = true;
        await ClaimAsync(request.Attempt, now);
        return Proceed();
    }

    public async Task WaitForOutcome(TimeSpan timeout)
    {
        if (State.Attempt == Guid.Empty || State.Response is not null)
        {
            return;
        }

        attemptEnded ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            await attemptEnded.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            // The caller asks again; the bound is its own.
        }
    }

    public async Task Complete(Guid attempt, IdempotentResponse response)
    {
        if (State.Attempt != attempt || State.Response is not null)
        {
            return;
        }

        State.Response = response;
        State.Attempt = Guid.Empty;
        await WriteAsync();
        EndAttempt();
    }

    public async Task Release(Guid attempt, bool nothingWritten)
    {
        if (State.Attempt != attempt || State.Response is not null)
        {
            return;
        }

        if (nothingWritten && !State.EarlierAttemptMayHaveRun)
        {
            await storage.ClearStateAsync();
        }
        else
        {
            State.Attempt = Guid.Empty;
            State.EarlierAttemptMayHaveRun = true;
            await WriteAsync();
        }

        EndAttempt();
    }

    private async Task ClaimAsync(Guid attempt, DateTime now)
    {
        State.Attempt = attempt;
        State.LeaseUntil = now + Lease;
        await WriteAsync();
    }

    // A claim or an answer counts only once it is durable; after a failed write memory is not
    // trusted, and the next activation reads what storage has.
    private async Task WriteAsync()
    {
        try
        {
            await storage.WriteStateAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning("Idempotency record {Key} not written: {Error}", this.GetPrimaryKeyString(), e.GetType().Name);
            DeactivateOnIdle();
            throw;
        }
    }

    private void EndAttempt()
    {
        attemptEnded?.TrySetResult();
        attemptEnded = null;
    }

    private IdempotencyDecision Proceed() =>
        new(IdempotencyOutcome.Proceed, State.SealedSeed, State.FirstAttemptAt, State.EarlierAttemptMayHaveRun);

    private bool IsExpired(DateTime now) => now >= State.FirstAttemptAt + Retention;

    private DateTime Now() => clock.GetUtcNow().UtcDateTime;
}
