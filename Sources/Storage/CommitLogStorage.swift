import NIOCore

/// The seam between the broker and where its CommitLog lives. The local implementation writes
/// segment files; the DLedger one replicates through Raft, and only committed bytes become
/// dispatchable.
///
/// Callers serialize appends (the store's put lock).
public protocol CommitLogStorage: Sendable {
    /// Appends the records of one put (a message, or a batch for one queue) in order: record `i`
    /// is `sizes[i]` bytes, and `encode(i, offset, &buffer)` writes it knowing its physical
    /// offset. Returns the offsets, and for a replicated log the entry that holds them (the
    /// DLedger log stores a put as one entry, all or nothing).
    mutating func appendPut(sizes: [Int], encode: (Int, Int64, inout ByteBuffer) throws -> Void) throws
        -> AppendedPut
    /// Where a put waits for replication (the quorum commit) of its entry; nil when the log is
    /// not replicated and a written record counts at once.
    var replication: (any ReplicatedLog)? { get }
    /// Bytes `[offset, offset+size)` of a stored record.
    func read(offset: Int64, size: Int) throws -> ByteBuffer
    /// The first byte not yet written / the end of the data consumers may see.
    var maxOffset: Int64 { get }
    var dispatchableOffset: Int64 { get }
    var minOffset: Int64 { get }
    /// The end of the sealed segments (no longer written): what the scrubber verifies.
    var sealedOffset: Int64 { get }
    /// The next record at or after `offset`, or nil at the end (skips end-of-segment fillers).
    func nextRecord(at offset: Int64) throws -> (offset: Int64, record: ByteBuffer)?
    /// The file holding `offset` and the position in it, for log lines about damage.
    func location(of offset: Int64) -> String
    /// Makes everything appended durable (fsync).
    func flush() throws
    /// Where durability has reached.
    var flushedOffset: Int64 { get }
    /// Undoes appends back to `offset` (a put that failed part-way).
    mutating func truncate(to offset: Int64) throws
    /// Retention: deletes leading segments last written before `cutoffMillis` (all but the
    /// current one when nil), at most `maxFiles`, and only segments wholly below `limit` (what
    /// has been dispatched); returns how many went.
    mutating func deleteExpiredSegments(writtenBefore cutoffMillis: Int64?, maxFiles: Int, below limit: Int64) -> Int
}

/// Where one put's records went.
public struct AppendedPut: Sendable, Equatable {
    public var offsets: [Int64]
    /// The replicated log's entry holding them; nil for a local log.
    public var entry: ReplicatedEntry?

    public init(offsets: [Int64], entry: ReplicatedEntry? = nil) {
        self.offsets = offsets
        self.entry = entry
    }
}
