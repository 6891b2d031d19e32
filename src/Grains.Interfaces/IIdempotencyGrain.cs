using Orleans.Concurrency;

namespace VaultGrains;

/// <summary>
/// The record of one <c>Idempotency-Key</c> of one caller (an organization, or the admin), kept
/// 24 hours from the first attempt. Key: <c>{scope}:{hex SHA-256 of scope and key}</c>, so the
/// key itself never reaches the cluster.
/// </summary>
/// <remarks>
/// Protocol: the front end calls <see cref="Begin"/>; on <see cref="IdempotencyOutcome.Proceed"/>
/// it runs the request and ends with <see cref="Complete"/> (an answer to replay) or
/// <see cref="Release"/> (no answer to keep). On <see cref="IdempotencyOutcome.InProgress"/> it
/// waits with <see cref="WaitForOutcome"/> and begins again. The grain holds no plaintext: the
/// request fingerprint is keyed, and the seed and body are sealed by the front end under a key
/// derived from the Idempotency-Key, which storage never sees. Every method is safe to repeat.
/// </remarks>
[Alias("VaultGrains.IIdempotencyGrain")]
public interface IIdempotencyGrain : IGrainWithStringKey
{
    /// <summary>
    /// Claims the key for <paramref name="request"/>'s attempt, or says why not: the first answer
    /// to replay, a different request under the same key, or another attempt still running. The
    /// same attempt beginning again gets the same claim.
    /// </summary>
    [Alias("Begin")]
    Task<IdempotencyDecision> Begin(IdempotentRequest request);

    /// <summary>Returns when the running attempt ends, or after <paramref name="timeout"/>, whichever is first.</summary>
    [Alias("WaitForOutcome"), AlwaysInterleave]
    Task WaitForOutcome(TimeSpan timeout);

    /// <summary>Keeps <paramref name="response"/> as the answer to replay. Ignored unless <paramref name="attempt"/> holds the claim.</summary>
    [Alias("Complete")]
    Task Complete(Guid attempt, IdempotentResponse response);

    /// <summary>
    /// Ends <paramref name="attempt"/> without an answer to keep. <paramref name="nothingWritten"/>:
    /// the record is forgotten and the key is free for any request. Otherwise the outcome is unknown:
    /// the record keeps its fingerprint and seed, so the next attempt of the same request runs again
    /// with the same resource ids and finds what the lost one did.
    /// </summary>
    [Alias("Release")]
    Task Release(Guid attempt, bool nothingWritten);
}

/// <summary>Whether to run a request, replay an answer, refuse a different request, or wait.</summary>
[GenerateSerializer, Alias("VaultGrains.IdempotencyOutcome")]
public enum IdempotencyOutcome
{
    Proceed = 0,
    Replay = 1,
    Mismatch = 2,
    InProgress = 3,
}

/// <summary>One attempt of a request: its caller-chosen attempt id, its keyed fingerprint, and a sealed seed for a first attempt.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.IdempotentRequest")]
public sealed record IdempotentRequest(
    [property: Id(0)] Guid Attempt,
    [property: Id(1)] byte[] Fingerprint,
    [property: Id(2)] byte[] SealedSeed);

/// <summary>
/// The decision of <see cref="IIdempotencyGrain.Begin"/>. For <see cref="IdempotencyOutcome.Proceed"/>:
/// the seed to derive resource ids and credentials from, the time of the first attempt (the ids'
/// timestamp), and whether an earlier attempt may have run (its outcome was lost). For
/// <see cref="IdempotencyOutcome.Replay"/>: the answer.
/// </summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.IdempotencyDecision")]
public sealed record IdempotencyDecision(
    [property: Id(0)] IdempotencyOutcome Outcome,
    [property: Id(1)] byte[]? SealedSeed = null,
    [property: Id(2)] DateTime FirstAttemptAt = default,
    [property: Id(3)] bool EarlierAttemptMayHaveRun = false,
    [property: Id(4)] IdempotentResponse? Response = null);

/// <summary>A kept answer: status, content type and the body sealed by the front end.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.IdempotentResponse")]
public sealed record IdempotentResponse(
    [property: Id(0)] int Status,
    [property: Id(1)] string? ContentType,
    [property: Id(2)] byte[] SealedBody);
