import Storage
import Synchronization

/// Damaged CommitLog records, found by reads (pulls, queries, lookups) and by the scrubber.
/// Each damaged offset is logged once; the count and the latest one are shown by
/// GET_BROKER_RUNTIME_INFO (`mqadmin brokerStatus`).
public final class DamageRegistry: Sendable {
    /// Offsets remembered for "log once"; past this many, new ones are still counted.
    static let rememberedLimit = 100_000

    struct State {
        var offsets: Set<Int64> = []
        var count = 0
        var latest: String?
    }
    private let state = Mutex(State())

    public init() {}

    /// Notes a damaged record; true when it was not known yet (the caller logs it then).
    func note(offset: Int64, description: String) -> Bool {
        state.withLock { state in
            if state.offsets.contains(offset) { return false }
            if state.offsets.count < Self.rememberedLimit { state.offsets.insert(offset) }
            state.count += 1
            state.latest = description
            return true
        }
    }

    public var count: Int { state.withLock { $0.count } }
    public var latest: String? { state.withLock { $0.latest } }
}

extension StoreError {
    /// The CommitLog offset the error is about.
    var offset: Int64 {
        switch self {
        case .io(_, let offset, _), .corruptRecord(_, let offset, _), .outOfRange(let offset): offset
        }
    }
}

extension MessageStore {
    /// Logs a damaged or unreadable record once per offset (the reads that meet it again only
    /// refuse to serve it).
    func reportDamage(_ error: StoreError, queue: String?) {
        guard damage.note(offset: error.offset, description: "\(error)") else { return }
        let context = queue.map { " (read for \($0))" } ?? ""
        logger.error("damaged CommitLog record, not served\(context): \(error)")
    }
}
