using Orleans.Storage;

namespace VaultGrains.Silo.Telemetry;

/// <summary>
/// Times every read and write of one grain storage provider, by outcome. Reads happen once per
/// activation, so they are the activations' load times.
/// </summary>
internal sealed class MeasuredGrainStorage(string provider, IGrainStorage inner) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        StorageMeasurement.ReadAsync(provider, async () =>
        {
            await inner.ReadStateAsync(stateName, grainId, grainState);
            return true;
        });

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        StorageMeasurement.WriteAsync(provider, () => inner.WriteStateAsync(stateName, grainId, grainState), e => e is InconsistentStateException);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (inner is ILifecycleParticipant<ISiloLifecycle> participant)
        {
            participant.Participate(lifecycle);
        }
    }
}

/// <summary>Records the size of every state it serializes for one provider, then hands the bytes on unchanged.</summary>
internal sealed class MeasuringGrainStorageSerializer(string provider, IGrainStorageSerializer inner) : IGrainStorageSerializer
{
    public BinaryData Serialize<T>(T? input)
    {
        var data = inner.Serialize(input);
        SiloMetrics.WriteSize.Record(data.Length, new KeyValuePair<string, object?>("provider", provider));
        return data;
    }

    public T? Deserialize<T>(BinaryData input) => inner.Deserialize<T>(input);
}
