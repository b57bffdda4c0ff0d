import Common
import NIOCore

/// The ordered segment files of one log (the CommitLog, or one ConsumeQueue) in one directory.
public struct MappedFileQueue: Sendable {
    public let directory: String
    public let fileSize: Int
    /// Appends go through a mapping of the file (`AppendMapping`) instead of `pwrite`.
    public let mappedAppends: Bool
    public private(set) var files: [MappedFile] = []

    public init(directory: String, fileSize: Int, mappedAppends: Bool = false) {
        self.directory = directory
        self.fileSize = fileSize
        self.mappedAppends = mappedAppends
    }

    /// Opens every segment in the directory; all are marked full (recovery sets the real end).
    public mutating func load() throws {
        try Directories.create(directory)
        files = []
        for name in Directories.list(directory) where name.utf8.count == 20 {
            guard let offset = Int64(name) else { continue }
            let file = try MappedFile(
                directory: directory, fileFromOffset: offset, fileSize: fileSize, mappedAppends: mappedAppends)
            file.setWrotePosition(fileSize)
            files.append(file)
        }
    }

    public var minOffset: Int64 { files.first?.fileFromOffset ?? 0 }
    public var maxOffset: Int64 { files.last.map { $0.fileFromOffset + Int64($0.wrotePosition) } ?? 0 }

    /// The file to append to, creating the next one when the last is full.
    public mutating func lastFileForAppend(startingAt offset: Int64 = 0) throws -> MappedFile {
        if let last = files.last, !last.isFull { return last }
        let start = files.last.map { $0.fileFromOffset + Int64(fileSize) } ?? (offset - offset % Int64(fileSize))
        if files.isEmpty { try Directories.create(directory) }
        let file = try MappedFile(
            directory: directory, fileFromOffset: start, fileSize: fileSize, mappedAppends: mappedAppends)
        files.append(file)
        return file
    }

    public func file(containing offset: Int64) -> MappedFile? {
        guard let first = files.first, offset >= first.fileFromOffset else { return nil }
        let index = Int((offset - first.fileFromOffset) / Int64(fileSize))
        guard index < files.count, files[index].fileFromOffset <= offset,
            offset < files[index].fileFromOffset + Int64(fileSize)
        else {
            return files.first { $0.fileFromOffset <= offset && offset < $0.fileFromOffset + Int64(fileSize) }
        }
        return files[index]
    }

    public func read(offset: Int64, count: Int) throws -> ByteBuffer {
        guard count > 0, let file = file(containing: offset) else { throw StoreError.outOfRange(offset: offset) }
        let position = Int(offset - file.fileFromOffset)
        guard count <= file.wrotePosition - position else { throw StoreError.outOfRange(offset: offset + Int64(count)) }
        return try file.read(at: position, count: count)
    }

    /// Drops everything at and after `offset`: later files are deleted, the containing one is cut.
    public mutating func truncateDirty(_ offset: Int64) throws {
        var kept: [MappedFile] = []
        for file in files {
            let end = file.fileFromOffset + Int64(fileSize)
            if end <= offset {
                kept.append(file)
            } else if offset >= file.fileFromOffset {
                try file.truncate(to: Int(offset - file.fileFromOffset))
                kept.append(file)
            } else {
                file.delete()
            }
        }
        files = kept
    }

    /// Deletes files from the front while `shouldDelete` says so, never the last one, at most `maxCount`.
    public mutating func deleteLeading(maxCount: Int, where shouldDelete: (MappedFile) throws -> Bool) rethrows -> Int {
        var deleted = 0
        while deleted < maxCount, files.count > 1, try shouldDelete(files[0]) {
            files.removeFirst().delete()
            deleted += 1
        }
        return deleted
    }

    /// Deletes every file (a log that restarts from elsewhere).
    public mutating func deleteAll() {
        for file in files { file.delete() }
        files = []
    }

    public func flush() throws {
        for file in files where file.flushedPosition < file.wrotePosition { try file.flush() }
    }
}
