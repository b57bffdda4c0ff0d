import Common
import NIOCore
import Storage

/// The entries of one DLedger replica on disk (`dledger-design.md` §6): `data/` files of
/// entries (each at its absolute byte position `pos`) and `index/` files of 32-byte units
/// (entry `i` at logical offset `i × 32`). Indices are DLedger's: the first entry is 0 and an
/// empty log has `ledgerEndIndex == -1`.
///
/// A leader appends at the next position; a follower appends the leader's entry and must land
/// on the same `pos`, so all replicas' data files are byte-identical.
///
/// Invariant: entries `ledgerBeginIndex ... ledgerEndIndex` are contiguous, their positions
/// increase, and `dataEnd` is where the next entry (or the filler before it) starts.
public struct DLedgerLog: Sendable {
    public let maxEntrySize: Int
    public private(set) var ledgerBeginIndex: Int64 = 0
    public private(set) var ledgerEndIndex: Int64 = -1
    public private(set) var ledgerEndTerm: Int64 = -1
    /// The first byte after the last entry.
    public private(set) var dataEnd: Int64 = 0

    var data: MappedFileQueue
    var index: MappedFileQueue
    /// The last entries appended (reads of them need not touch the files).
    var recent = DLedgerRecentEntries()

    public init(dataDirectory: String, indexDirectory: String, dataFileSize: Int, indexFileSize: Int) {
        precondition(indexFileSize % DLedgerIndexUnit.size == 0, "index file size must be a multiple of 32")
        precondition(dataFileSize > DLedgerEntry.headerSize + DLedgerEntry.minimumBlankSize, "data files too small")
        data = MappedFileQueue(directory: dataDirectory, fileSize: dataFileSize)
        index = MappedFileQueue(directory: indexDirectory, fileSize: indexFileSize)
        maxEntrySize = dataFileSize - DLedgerEntry.minimumBlankSize
    }

    public var isEmpty: Bool { ledgerEndIndex < ledgerBeginIndex }

    // MARK: append

    /// The position the next entry of `size` bytes will take (after a filler when it does not fit
    /// the rest of the current file).
    public func nextPosition(forSize size: Int) -> Int64 {
        let fileSize = Int64(data.fileSize)
        let used = dataEnd % fileSize
        if dataEnd > 0, used == 0 { return dataEnd }
        return used + Int64(size + DLedgerEntry.minimumBlankSize) > fileSize ? dataEnd - used + fileSize : dataEnd
    }

    /// Appends a new entry (leader side): index `ledgerEndIndex + 1`, at the next position.
    @discardableResult
    public mutating func append(term: Int64, magic: Int32 = DLedgerEntry.magicNormal, body: [UInt8]) throws
        -> DLedgerEntry
    {
        let size = DLedgerEntry.headerSize + body.count
        let entry = DLedgerEntry(
            magic: magic, index: ledgerEndIndex + 1, term: term, pos: nextPosition(forSize: size), body: body)
        try append(entry)
        return entry
    }

    /// Appends an entry as the leader stored it (follower side). It must be the next index,
    /// not go back in term, and land on the same position as on the leader.
    public mutating func append(_ entry: DLedgerEntry) throws {
        guard entry.size <= maxEntrySize else {
            throw DLedgerLogError.entryTooLarge(size: entry.size, limit: maxEntrySize)
        }
        guard entry.index == ledgerEndIndex + 1, entry.term >= ledgerEndTerm else {
            throw DLedgerLogError.notNext(
                index: entry.index, term: entry.term, end: ledgerEndIndex, endTerm: ledgerEndTerm)
        }
        let pos = nextPosition(forSize: entry.size)
        guard entry.pos == pos else {
            throw DLedgerLogError.positionMismatch(index: entry.index, pos: entry.pos, local: pos)
        }
        if pos != dataEnd { try writeFiller(upTo: pos) }
        let file = try data.lastFileForAppend(startingAt: pos)
        precondition(file.fileFromOffset + Int64(file.wrotePosition) == pos, "data file \(file.path) not at \(pos)")
        try file.append(entry.bytes)
        try writeIndexUnit(DLedgerIndexUnit(of: entry))
        if isEmpty { ledgerBeginIndex = entry.index }
        ledgerEndIndex = entry.index
        ledgerEndTerm = entry.term
        dataEnd = pos + Int64(entry.size)
        recent.appended(entry)
    }

    /// Magic −1 and the bytes left, then zeros to the end of the file.
    mutating func writeFiller(upTo next: Int64) throws {
        let file = try data.lastFileForAppend(startingAt: dataEnd)
        let left = file.remaining
        precondition(file.fileFromOffset + Int64(file.fileSize) == next, "filler must end at \(next)")
        var filler = ByteBuffer()
        filler.writeInteger(DLedgerEntry.magicBlank)
        filler.writeInteger(Int32(left))
        filler.writeRepeatingByte(0, count: left - 8)
        try file.append(filler)
    }

    mutating func writeIndexUnit(_ unit: DLedgerIndexUnit) throws {
        let offset = unit.index * Int64(DLedgerIndexUnit.size)
        let file = try index.lastFileForAppend(startingAt: offset)
        let at = file.fileFromOffset + Int64(file.wrotePosition)
        precondition(at == offset, "index unit \(unit.index) goes at \(offset), file \(file.path) is at \(at)")
        var buffer = ByteBuffer()
        unit.write(into: &buffer)
        try file.append(buffer)
    }

    // MARK: read

    /// The entry at `index`, checked against its index unit and its body CRC; nil outside
    /// `ledgerBeginIndex ... ledgerEndIndex`.
    public func entry(at entryIndex: Int64) throws -> DLedgerEntry? {
        guard entryIndex >= ledgerBeginIndex, entryIndex <= ledgerEndIndex else { return nil }
        if let kept = recent.entry(at: entryIndex) { return kept }
        var unitBytes = try index.read(offset: entryIndex * Int64(DLedgerIndexUnit.size), count: DLedgerIndexUnit.size)
        guard let unit = DLedgerIndexUnit.read(from: &unitBytes), unit.index == entryIndex, unit.entrySize > 0,
            Int(unit.entrySize) <= maxEntrySize
        else {
            throw DLedgerLogError.indexMismatch(index: entryIndex, reason: "index unit does not describe it")
        }
        var bytes = try data.read(offset: unit.pos, count: Int(unit.entrySize))
        let entry: DLedgerEntry
        do {
            entry = try DLedgerEntry.parse(from: &bytes, maxSize: maxEntrySize)
        } catch {
            throw DLedgerLogError.corruptEntry(
                path: data.file(containing: unit.pos)?.path ?? data.directory, pos: unit.pos, error)
        }
        guard unit.matches(entry) else {
            throw DLedgerLogError.indexMismatch(
                index: entryIndex, reason: "entry at \(unit.pos) is \(entry.index)@\(entry.term)")
        }
        return entry
    }

    /// The index unit of entry `entryIndex` alone (no data read), checked for its own index;
    /// nil outside `ledgerBeginIndex ... ledgerEndIndex`.
    public func indexUnit(at entryIndex: Int64) throws -> DLedgerIndexUnit? {
        guard entryIndex >= ledgerBeginIndex, entryIndex <= ledgerEndIndex else { return nil }
        if let kept = recent.entry(at: entryIndex) { return DLedgerIndexUnit(of: kept) }
        var bytes = try index.read(offset: entryIndex * Int64(DLedgerIndexUnit.size), count: DLedgerIndexUnit.size)
        guard let unit = DLedgerIndexUnit.read(from: &bytes), unit.index == entryIndex, unit.entrySize > 0,
            Int(unit.entrySize) <= maxEntrySize, unit.pos >= 0, unit.pos < dataEnd, unit.term >= 0
        else {
            throw DLedgerLogError.indexMismatch(index: entryIndex, reason: "index unit does not describe it")
        }
        return unit
    }

    /// The data file holding byte `offset`, for reads outside the owner (files are immutable
    /// below `dataEnd` until truncated).
    public func dataFile(containing offset: Int64) -> MappedFile? { data.file(containing: offset) }
    public var dataMinOffset: Int64 { data.minOffset }
    public var dataFileSize: Int { data.fileSize }

    /// The files with bytes not yet fsynced (the flusher syncs them outside the owner).
    public var unflushedFiles: [MappedFile] {
        (data.files + index.files).filter { $0.flushedPosition < $0.wrotePosition }
    }

    /// The data files with unsynced writes: what makes entries durable. The index need not be
    /// synced with them (`recover` checks every unit against its entry and rebuilds the rest).
    public var unflushedDataFiles: [MappedFile] {
        data.files.filter { $0.flushedPosition < $0.wrotePosition }
    }

    /// The first data byte not known to be fsynced (`dataEnd` when every file is synced): what
    /// a machine crash could lose.
    public var syncedEnd: Int64 {
        data.files.filter { $0.flushedPosition < $0.wrotePosition }.map {
            $0.fileFromOffset + Int64($0.flushedPosition)
        }
        .min() ?? dataEnd
    }

    /// Cuts every entry that does not end at or before byte `limit` (never below the log's
    /// first entry); returns how many entries went. After a failed fsync the unsynced tail is
    /// cut this way: its bytes may never reach the disk (a failed fsync can leave pages that a
    /// later fsync reports as clean), so they are written, and synced, again.
    @discardableResult
    public mutating func cut(toEnd limit: Int64) throws -> Int64 {
        var keep = ledgerEndIndex
        while keep >= ledgerBeginIndex {
            guard let unit = try indexUnit(at: keep) else { break }
            if unit.pos + Int64(unit.entrySize) <= limit { break }
            keep -= 1
        }
        let cut = ledgerEndIndex - keep
        if cut > 0 { try truncate(after: keep) }
        return cut
    }

    /// After a failed append: drops whatever part of it reached the files, so the log ends at
    /// its last whole entry again.
    public mutating func discardPartialAppend() throws {
        recent.removeAll()
        try data.truncateDirty(dataEnd)
        try index.truncateDirty((ledgerEndIndex + 1) * Int64(DLedgerIndexUnit.size))
    }

    /// Retention: deletes leading data files wholly below `limit` (committed and dispatched)
    /// for which `shouldDelete` holds, at most `maxCount`, never the last one; then the index
    /// files that only described deleted entries. The first entry of the first remaining file
    /// becomes the log's first entry. Returns how many data files went.
    public mutating func deleteLeadingFiles(
        maxCount: Int, below limit: Int64, where shouldDelete: (MappedFile) -> Bool
    ) throws -> Int {
        let fileSize = Int64(data.fileSize)
        let deleted = data.deleteLeading(maxCount: maxCount) { file in
            file.fileFromOffset + fileSize <= limit && shouldDelete(file)
        }
        guard deleted > 0, let first = data.files.first else { return deleted }
        // Entries never straddle files: the first remaining file starts with one.
        var head = try first.read(at: 0, count: DLedgerEntry.headerSize)
        guard let magic = head.readInteger(as: Int32.self),
            magic == DLedgerEntry.magicNormal || magic == DLedgerEntry.magicNoop,
            let begin = head.getInteger(at: head.readerIndex + 4, as: Int64.self), begin > ledgerBeginIndex,
            begin <= ledgerEndIndex + 1
        else {
            throw DLedgerLogError.indexMismatch(
                index: ledgerBeginIndex, reason: "\(first.path) does not start with an entry after retention")
        }
        ledgerBeginIndex = begin
        let unitSize = Int64(DLedgerIndexUnit.size)
        let indexFileSize = Int64(index.fileSize)
        _ = index.deleteLeading(maxCount: .max) { file in file.fileFromOffset + indexFileSize <= begin * unitSize }
        return deleted
    }

    /// Drops every entry and file: the log restarts with `boundary` (a leader's first entry, at
    /// its position) as its only entry, so its data files line up with the leader's from there.
    public mutating func restart(with boundary: DLedgerEntry) throws {
        recent.removeAll()
        guard boundary.size <= maxEntrySize, boundary.pos >= 0, boundary.index >= 0 else {
            throw DLedgerLogError.entryTooLarge(size: boundary.size, limit: maxEntrySize)
        }
        data.deleteAll()
        index.deleteAll()
        let fileStart = boundary.pos - boundary.pos % Int64(data.fileSize)
        let file = try data.lastFileForAppend(startingAt: boundary.pos)
        if boundary.pos > fileStart {
            var gap = ByteBuffer()
            gap.writeInteger(DLedgerEntry.magicGap)
            gap.writeInteger(Int32(boundary.pos - fileStart))
            gap.writeRepeatingByte(0, count: Int(boundary.pos - fileStart) - 8)
            try file.append(gap)
        }
        try file.append(boundary.bytes)
        let unitOffset = boundary.index * Int64(DLedgerIndexUnit.size)
        let indexFile = try index.lastFileForAppend(startingAt: unitOffset)
        indexFile.setWrotePosition(Int(unitOffset - indexFile.fileFromOffset))
        try writeIndexUnit(DLedgerIndexUnit(of: boundary))
        ledgerBeginIndex = boundary.index
        ledgerEndIndex = boundary.index
        ledgerEndTerm = boundary.term
        dataEnd = boundary.pos + Int64(boundary.size)
        try flush()
    }

    // MARK: truncate and recover

    /// Drops every entry after `entryIndex` (a follower's divergent tail).
    public mutating func truncate(after entryIndex: Int64) throws {
        recent.removeAll()
        guard entryIndex < ledgerEndIndex else { return }
        guard entryIndex >= ledgerBeginIndex - 1 else {
            throw DLedgerLogError.belowBegin(index: entryIndex, begin: ledgerBeginIndex)
        }
        let keep = entryIndex >= ledgerBeginIndex ? try entry(at: entryIndex) : nil
        let cut = try entry(at: entryIndex + 1).map(\.pos) ?? dataEnd
        try data.truncateDirty(cut)
        try index.truncateDirty((entryIndex + 1) * Int64(DLedgerIndexUnit.size))
        ledgerEndIndex = entryIndex
        ledgerEndTerm = keep?.term ?? -1
        dataEnd = keep.map { $0.pos + Int64($0.size) } ?? cut
    }

    /// Opens the files and keeps the longest valid prefix of entries: each must parse (magic,
    /// sizes, body CRC), sit at its own position, and follow the previous one in index and
    /// term. Index units that disagree with the data are rewritten from it. A damaged entry
    /// more than one file before the last is not cut silently: recovery refuses instead.
    /// Returns a description of what was cut, or nil when the log was intact.
    @discardableResult
    public mutating func recover() throws -> String? {
        recent.removeAll()
        try data.load()
        try index.load()
        ledgerBeginIndex = 0
        ledgerEndIndex = -1
        ledgerEndTerm = -1
        dataEnd = data.minOffset
        var stopReason: String?
        var stopFile = 0
        var lastValid: DLedgerEntry?
        var position = data.minOffset
        scan: for (fileNumber, file) in data.files.enumerated() {
            stopFile = fileNumber
            guard file.fileFromOffset == position else {
                stopReason = "gap before \(file.path)"
                break
            }
            var at = 0
            while at + DLedgerEntry.headerSize <= file.fileSize {
                let head = try file.read(at: at, count: 8)
                let magic = head.getInteger(at: 0, as: Int32.self)!
                if magic == DLedgerEntry.magicGap, fileNumber == 0, at == 0 {
                    // A log restarted mid-file at a leader's first entry: skip to it.
                    let skip = Int(head.getInteger(at: 4, as: Int32.self)!)
                    guard skip >= 8, skip + DLedgerEntry.headerSize <= file.fileSize else {
                        stopReason = "restart gap of \(skip) bytes at \(file.path)"
                        break scan
                    }
                    at = skip
                    continue
                }
                if magic == DLedgerEntry.magicBlank {
                    let left = Int(head.getInteger(at: 4, as: Int32.self)!)
                    guard left == file.fileSize - at else {
                        stopReason = "filler of \(left) bytes at \(file.path):\(at) does not reach the file end"
                        break scan
                    }
                    break
                }
                if magic == 0 && head.getInteger(at: 4, as: Int32.self) == 0 { break scan }  // end of data
                let size = Int(head.getInteger(at: 4, as: Int32.self)!)
                guard size > DLedgerEntry.minimumSizeExclusive, size <= min(maxEntrySize, file.fileSize - at) else {
                    stopReason = "entry size \(size) at \(file.path):\(at)"
                    break scan
                }
                var bytes = try file.read(at: at, count: size)
                let entry: DLedgerEntry
                do {
                    entry = try DLedgerEntry.parse(from: &bytes, maxSize: maxEntrySize)
                } catch {
                    stopReason = "\(error) at \(file.path):\(at)"
                    break scan
                }
                let pos = file.fileFromOffset + Int64(at)
                let expectedIndex = lastValid.map { $0.index + 1 } ?? entry.index
                guard entry.pos == pos, entry.index == expectedIndex, entry.term >= (lastValid?.term ?? 0) else {
                    stopReason = "entry \(entry.index)@\(entry.term) at \(file.path):\(at) does not follow the log"
                    break scan
                }
                if lastValid == nil { ledgerBeginIndex = entry.index }
                lastValid = entry
                at += size
            }
            position = file.fileFromOffset + Int64(file.fileSize)
        }
        if let stopReason, stopFile < data.files.count - 2 {
            throw DLedgerLogError.damagedBeforeTail(reason: stopReason)
        }
        ledgerEndIndex = lastValid?.index ?? (ledgerBeginIndex - 1)
        ledgerEndTerm = lastValid?.term ?? -1
        dataEnd = lastValid.map { $0.pos + Int64($0.size) } ?? data.minOffset
        try data.truncateDirty(dataEnd)
        try repairIndex()
        return stopReason
    }

    /// Cross-checks every index unit against its entry and rewrites the index from the data
    /// from the first unit that disagrees; drops units past the end.
    mutating func repairIndex() throws {
        let unitSize = Int64(DLedgerIndexUnit.size)
        var rebuildFrom = ledgerEndIndex + 1
        var resumeAt = data.minOffset
        if !isEmpty {
            for entryIndex in ledgerBeginIndex...ledgerEndIndex {
                do {
                    if let good = try entry(at: entryIndex) { resumeAt = good.pos + Int64(good.size) }
                } catch {
                    // Expected after a crash between the data and the index write: rebuilt below.
                    rebuildFrom = entryIndex
                    break
                }
            }
        }
        let rebuildOffset = rebuildFrom * unitSize
        if let first = index.files.first, first.fileFromOffset > rebuildOffset {
            try index.truncateDirty(first.fileFromOffset - 1)  // nothing of it is usable: start over
        }
        try index.truncateDirty(rebuildOffset)
        var pos = rebuildFrom == ledgerBeginIndex ? data.minOffset : resumeAt
        while rebuildFrom <= ledgerEndIndex, let file = data.file(containing: pos) {
            let at = Int(pos - file.fileFromOffset)
            let head = try file.read(at: at, count: 8)
            if head.getInteger(at: 0, as: Int32.self) == DLedgerEntry.magicBlank {
                pos = file.fileFromOffset + Int64(file.fileSize)
                continue
            }
            if head.getInteger(at: 0, as: Int32.self) == DLedgerEntry.magicGap, at == 0 {
                pos += Int64(max(8, head.getInteger(at: 4, as: Int32.self)!))
                continue
            }
            var bytes = try file.read(at: at, count: Int(head.getInteger(at: 4, as: Int32.self)!))
            let entry = try DLedgerEntry.parse(from: &bytes, maxSize: maxEntrySize)
            try writeIndexUnit(DLedgerIndexUnit(of: entry))
            rebuildFrom = entry.index + 1
            pos += Int64(entry.size)
        }
    }

    public func flush() throws {
        try data.flush()
        try index.flush()
    }

    /// Syncs the data files only (see `unflushedDataFiles`).
    public func flushData() throws {
        try data.flush()
    }
}

public enum DLedgerLogError: Error, Sendable, CustomStringConvertible {
    case entryTooLarge(size: Int, limit: Int)
    case notNext(index: Int64, term: Int64, end: Int64, endTerm: Int64)
    case positionMismatch(index: Int64, pos: Int64, local: Int64)
    case indexMismatch(index: Int64, reason: String)
    case corruptEntry(path: String, pos: Int64, DLedgerEntryError)
    case belowBegin(index: Int64, begin: Int64)
    case damagedBeforeTail(reason: String)

    public var description: String {
        switch self {
        case .entryTooLarge(let size, let limit): "entry of \(size) bytes exceeds \(limit)"
        case .notNext(let index, let term, let end, let endTerm):
            "entry \(index)@\(term) does not follow the log end \(end)@\(endTerm)"
        case .positionMismatch(let index, let pos, let local):
            "entry \(index) is at \(pos) on the leader but would be at \(local) here: the data files differ"
        case .indexMismatch(let index, let reason): "index of entry \(index): \(reason)"
        case .corruptEntry(let path, let pos, let error): "corrupt entry in \(path) at \(pos): \(error)"
        case .belowBegin(let index, let begin): "entry \(index) is below the log's first entry \(begin)"
        case .damagedBeforeTail(let reason):
            "damage before the last two data files (\(reason)): refusing to drop whole files; check it manually"
        }
    }
}
