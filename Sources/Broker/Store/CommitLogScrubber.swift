import Common
import Synchronization

/// Verifies sealed CommitLog segments in the background at a low rate, so damage on disk (a
/// flipped bit, a bad sector) is found and reported before a consumer or a replica needs the
/// record. Damage goes to the log (once per record) and to `DamageRegistry`.
///
/// The scrubber owns its cursor; it reads through the CommitLog's thread-safe `pread` path
/// outside the store lock, one record at a time.
public struct CommitLogScrubber: Sendable {
    public let bytesPerSecond: Int
    /// How often the scrubber wakes; each wake verifies `bytesPerSecond / wakesPerSecond` bytes.
    static let tickMillis = 100

    public init(bytesPerSecond: Int) { self.bytesPerSecond = bytesPerSecond }

    /// Progress shown by GET_BROKER_RUNTIME_INFO.
    public final class Progress: Sendable {
        let verifiedBytes = Atomic<Int64>(0)
        let completedPasses = Atomic<Int64>(0)
        public init() {}
        public var bytes: Int64 { verifiedBytes.load(ordering: .relaxed) }
        public var passes: Int64 { completedPasses.load(ordering: .relaxed) }
    }

    /// Scrubs until the task is cancelled.
    public func run(store: MessageStore) async {
        guard bytesPerSecond > 0 else { return }
        let budget = max(1, bytesPerSecond * Self.tickMillis / 1000)
        var cursor: Int64 = 0
        var verifiedThisPass = false
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(Self.tickMillis))
            } catch {
                return  // cancelled
            }
            let step = scrub(store: store, from: cursor, budget: budget)
            verifiedThisPass = verifiedThisPass || step.verified > 0
            if step.passEnded, verifiedThisPass {
                verifiedThisPass = false
                store.scrubProgress.completedPasses.add(1, ordering: .relaxed)
                store.logger.info(
                    "CommitLog scrub pass done: \(store.scrubProgress.bytes) bytes verified so far, \(store.damage.count) damaged records known"
                )
            }
            cursor = step.next
        }
    }

    /// Verifies records from `cursor` for about `budget` bytes. At the end of the sealed segments
    /// the next pass starts again at the first segment.
    func scrub(store: MessageStore, from cursor: Int64, budget: Int) -> (next: Int64, verified: Int, passEnded: Bool) {
        let commitLog = store.state.withLock { $0.commitLog }
        let sealed = commitLog.sealedOffset
        var offset = max(cursor, commitLog.minOffset)
        var verified = 0
        while offset < sealed, verified < budget {
            do {
                guard let (at, record) = try commitLog.nextRecord(at: offset), at < sealed else {
                    offset = sealed
                    break
                }
                if let problem = RecordScanner.problem(in: record) {
                    store.reportDamage(
                        .corruptRecord(path: commitLog.location(of: at), offset: at, reason: problem), queue: nil)
                }
                verified += record.readableBytes
                offset = at + Int64(record.readableBytes)
            } catch {
                // Retention may have deleted the segment under us; that is not damage.
                if offset < store.commitLogMinOffset { break }
                store.reportDamage(MessageStore.readError(error, at: offset, in: commitLog), queue: nil)
                offset = Self.nextSegmentStart(after: offset, segmentSize: store.config.mappedFileSizeCommitLog)
            }
        }
        store.scrubProgress.verifiedBytes.add(Int64(verified), ordering: .relaxed)
        if offset >= sealed { return (commitLog.minOffset, verified, true) }
        return (offset, verified, false)
    }

    /// A damaged record's size cannot be trusted: go on at the next segment.
    static func nextSegmentStart(after offset: Int64, segmentSize: Int) -> Int64 {
        let size = Int64(segmentSize)
        return (offset / size).saturatingAdding(1).saturatingMultiplied(by: size)
    }
}
