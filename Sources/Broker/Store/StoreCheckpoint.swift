import Common

/// `storePathRootDir/checkpoint`: the CommitLog offset known durable (after a flush) or, after a
/// clean stop, where the CommitLog ends. One decimal number, written atomically.
enum StoreCheckpoint {
    static func read(_ path: String) throws -> Int64? {
        guard let text = try AtomicFile.read(path) else { return nil }
        return Int64(text.trimmingCharacters())
    }

    static func write(_ offset: Int64, to path: String) throws {
        try AtomicFile.write("\(offset)\n", to: path)
    }
}
