namespace CompensationLedger.Infrastructure;

/// <summary>
/// A snapshot that folds many of its stream's events at once, the same as Marten's aggregator applying them one by one, only
/// cheaper: <see cref="SnapshotRebuild{T}"/> uses it instead of the aggregator when the snapshot offers it (the fund's, issue #7).
/// </summary>
public interface IFoldsMany<TSelf> where TSelf : class, IFoldsMany<TSelf>
{
    /// <summary>
    /// <paramref name="events"/> (the events' data, in stream order) folded onto <paramref name="snapshot"/> (null before the
    /// stream's first event); <paramref name="streamVersion"/> is the version of the last of them, as the aggregator would set it.
    /// </summary>
    static abstract TSelf? FoldMany(TSelf? snapshot, IReadOnlyList<object> events, long streamVersion);

    /// <summary>
    /// Event types that change nothing the snapshot stores (<see cref="FoldMany"/> may be given a stream without them): the rebuild
    /// counts them for the stream's version and does not read or parse their data.
    /// </summary>
    static abstract IReadOnlyCollection<Type> NotInSnapshot { get; }
}
