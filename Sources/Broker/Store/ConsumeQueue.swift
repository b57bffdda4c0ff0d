import NIOCore
import Storage

/// One entry of a ConsumeQueue: `| CommitLog offset 8 | size 4 | tags hash 8 |` (20 bytes).
public struct ConsumeQueueEntry: Sendable, Equatable {
    public static let size = 20
    public var commitLogOffset: Int64
    public var messageSize: Int32
    public var tagsCode: Int64

    public init(commitLogOffset: Int64, messageSize: Int32, tagsCode: Int64) {
        self.commitLogOffset = commitLogOffset
        self.messageSize = messageSize
        self.tagsCode = tagsCode
    }

    /// The entry's 20 bytes, big-endian, on the stack (no allocation per dispatched message).
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeTemporaryAllocation(byteCount: Self.size, alignment: 8) { bytes in
            bytes.storeBytes(of: commitLogOffset.bigEndian, toByteOffset: 0, as: Int64.self)
            bytes.storeBytes(of: messageSize.bigEndian, toByteOffset: 8, as: Int32.self)
            bytes.storeBytes(of: tagsCode.bigEndian, toByteOffset: 12, as: Int64.self)
            return try body(UnsafeRawBufferPointer(bytes))
        }
    }

    static func read(from buffer: inout ByteBuffer) -> ConsumeQueueEntry? {
        guard let offset = buffer.readInteger(as: Int64.self), let size = buffer.readInteger(as: Int32.self),
            let tags = buffer.readInteger(as: Int64.self)
        else { return nil }
        return ConsumeQueueEntry(commitLogOffset: offset, messageSize: size, tagsCode: tags)
    }

    /// A written entry: zeros mean "never written" (sparse file tail).
    var isValid: Bool { commitLogOffset >= 0 && messageSize > 0 }
}

/// The logical queue of one topic/queueId: fixed-size entries pointing into the CommitLog, in
/// `consumequeue/<topic>/<queueId>/<20-digit byte offset>` files. Queue offset n lives at byte n*20.
public struct ConsumeQueue: Sendable {
    public let topic: String
    public let queueId: Int32
    var files: MappedFileQueue
    /// Queue offset of the first entry still present.
    public private(set) var minOffset: Int64 = 0
    /// CommitLog end of the last entry (offset + size): where dispatch has reached for this queue.
    public private(set) var maxPhysicalOffset: Int64 = 0

    public init(rootDirectory: String, topic: String, queueId: Int32, entriesPerFile: Int) {
        self.topic = topic
        self.queueId = queueId
        // 20-byte entries: a store into a mapping costs far less than a system call each.
        files = MappedFileQueue(
            directory: "\(rootDirectory)/\(topic)/\(queueId)", fileSize: entriesPerFile * ConsumeQueueEntry.size,
            mappedAppends: true)
    }

    /// Next queue offset to be written (= number of entries ever written).
    public var maxOffset: Int64 { files.maxOffset / Int64(ConsumeQueueEntry.size) }

    public mutating func append(_ entry: ConsumeQueueEntry, queueOffset: Int64) throws {
        let expected = maxOffset
        guard queueOffset >= expected else { return }  // already present (re-dispatch after recovery)
        precondition(
            queueOffset == expected || files.files.isEmpty,
            "queue \(topic)/\(queueId) gap: \(queueOffset) after \(expected)")
        let file = try files.lastFileForAppend(startingAt: queueOffset * Int64(ConsumeQueueEntry.size))
        if files.files.count == 1 && file.wrotePosition == 0
            && file.fileFromOffset < queueOffset * Int64(ConsumeQueueEntry.size)
        {
            // A queue that starts past zero (its early files were cleaned): pad to the right slot.
            let pad = Int(queueOffset * Int64(ConsumeQueueEntry.size) - file.fileFromOffset)
            var zeros = ByteBuffer()
            zeros.writeRepeatingByte(0, count: pad)
            try file.append(zeros)
            minOffset = queueOffset
        }
        try entry.withBytes { try file.append($0) }
        maxPhysicalOffset = max(maxPhysicalOffset, entry.commitLogOffset + Int64(entry.messageSize))
    }

    /// Recovery met a record of this queue past `maxOffset` because records before it were
    /// damaged and skipped: fills the missing queue offsets with holes (size 0, pointing at the
    /// damaged record), which reads report as damage and consumers skip. At most `limit`.
    public mutating func fillHoles(upTo queueOffset: Int64, damagedAt commitLogOffset: Int64, limit: Int64) throws
        -> Int64
    {
        let missing = queueOffset - maxOffset
        guard missing > 0, !files.files.isEmpty else { return 0 }
        guard missing <= limit else {
            throw StoreError.corruptRecord(
                path: files.directory, offset: commitLogOffset,
                reason: "queue \(topic)/\(queueId) would need \(missing) holes before queue offset \(queueOffset)")
        }
        for offset in maxOffset..<queueOffset {
            try append(
                ConsumeQueueEntry(commitLogOffset: commitLogOffset, messageSize: 0, tagsCode: 0), queueOffset: offset)
        }
        return missing
    }

    public func entries(from queueOffset: Int64, maxCount: Int) throws -> [ConsumeQueueEntry] {
        let end = min(maxOffset, queueOffset + Int64(maxCount))
        guard queueOffset >= files.minOffset / Int64(ConsumeQueueEntry.size), queueOffset < end else { return [] }
        var result: [ConsumeQueueEntry] = []
        var offset = queueOffset
        while offset < end {
            guard let file = files.file(containing: offset * Int64(ConsumeQueueEntry.size)) else { break }
            let fileEnd = (file.fileFromOffset + Int64(file.wrotePosition)) / Int64(ConsumeQueueEntry.size)
            let count = Int(min(end, fileEnd) - offset)
            guard count > 0 else { break }
            var buffer = try file.read(
                at: Int(offset * Int64(ConsumeQueueEntry.size) - file.fileFromOffset),
                count: count * ConsumeQueueEntry.size)
            while let entry = ConsumeQueueEntry.read(from: &buffer) { result.append(entry) }
            offset += Int64(count)
        }
        return result
    }

    public func entry(at queueOffset: Int64) throws -> ConsumeQueueEntry? {
        try entries(from: queueOffset, maxCount: 1).first
    }

    /// Loads the files, finds the last valid entry, and drops entries pointing at or beyond
    /// `commitLogEnd` (the CommitLog lost them in a crash).
    public mutating func recover(commitLogEnd: Int64) throws {
        try files.load()
        guard !files.files.isEmpty else { return }
        // The first valid entry gives the min offset; the last valid entry gives the end.
        var end: Int64 = files.minOffset
        var foundFirst = false
        for file in files.files {
            let data = try file.read(at: 0, count: files.fileSize)
            var buffer = data
            var position = 0
            while let entry = ConsumeQueueEntry.read(from: &buffer) {
                let queueOffset = (file.fileFromOffset + Int64(position)) / Int64(ConsumeQueueEntry.size)
                if entry.isValid {
                    if entry.commitLogOffset + Int64(entry.messageSize) > commitLogEnd { break }
                    if !foundFirst {
                        minOffset = queueOffset
                        foundFirst = true
                    }
                    maxPhysicalOffset = entry.commitLogOffset + Int64(entry.messageSize)
                    end = file.fileFromOffset + Int64(position) + Int64(ConsumeQueueEntry.size)
                } else if foundFirst {
                    break
                }
                position += ConsumeQueueEntry.size
            }
            if position < files.fileSize && foundFirst { break }
        }
        try files.truncateDirty(end)
        if !foundFirst { minOffset = end / Int64(ConsumeQueueEntry.size) }
    }

    public func flush() throws { try files.flush() }

    /// Retention: drops files whose entries all point below `commitLogMin`, then moves the min
    /// offset to the first entry still backed by the CommitLog.
    public mutating func deleteExpired(commitLogMin: Int64) throws -> Int {
        let entriesPerFile = Int64(files.fileSize / ConsumeQueueEntry.size)
        let fileSize = files.fileSize
        let deleted = try files.deleteLeading(maxCount: Int.max) { file in
            guard file.wrotePosition == fileSize else { return false }
            var tail = try file.read(at: fileSize - ConsumeQueueEntry.size, count: ConsumeQueueEntry.size)
            guard let last = ConsumeQueueEntry.read(from: &tail) else { return false }
            return last.commitLogOffset + Int64(last.messageSize) <= commitLogMin
        }
        var candidate = max(minOffset, files.minOffset / Int64(ConsumeQueueEntry.size))
        while candidate < maxOffset {
            let batch = try entries(from: candidate, maxCount: Int(entriesPerFile))
            guard !batch.isEmpty else { break }
            if let firstKept = batch.firstIndex(where: { $0.commitLogOffset >= commitLogMin }) {
                candidate += Int64(firstKept)
                break
            }
            candidate += Int64(batch.count)
        }
        minOffset = candidate
        return deleted
    }
}
