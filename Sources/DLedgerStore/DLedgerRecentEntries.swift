import DequeModule

/// The last entries a log wrote, in memory, contiguous by index: what a leader sends its
/// followers next and what the commit and position checks look up, without reading the files
/// back (two reads and a body CRC per entry and follower otherwise). Bounded by count and bytes;
/// any change other than an append at the end empties it.
struct DLedgerRecentEntries: Sendable {
    static let maxEntries = 4096
    static let maxBytes = 8 << 20

    private var entries = Deque<DLedgerEntry>()
    private var bytes = 0

    /// The entry at `index` if it is one of the recent ones.
    func entry(at index: Int64) -> DLedgerEntry? {
        guard let first = entries.first?.index, index >= first, index - first < Int64(entries.count) else { return nil }
        return entries[Int(index - first)]
    }

    /// Keeps `entry`, written right after the last one kept (anything else starts over).
    mutating func appended(_ entry: DLedgerEntry) {
        if let last = entries.last, last.index + 1 != entry.index { removeAll() }
        entries.append(entry)
        bytes += entry.body.count
        while entries.count > Self.maxEntries || (bytes > Self.maxBytes && entries.count > 1) {
            bytes -= entries.removeFirst().body.count
        }
    }

    mutating func removeAll() {
        entries.removeAll()
        bytes = 0
    }
}
