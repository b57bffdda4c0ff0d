import Common
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One fixed-size segment file named by the 20-digit offset of its first byte
/// (`00000000001073741824`). Writes go through `pwrite`, or with `mappedAppends` through a
/// shared mapping (`AppendMapping`); reads go through `pread` (safe from any thread, and an I/O
/// error is an error, not a SIGBUS). The write position is published atomically so readers never
/// see past it.
///
/// Invariant: flushedPosition <= wrotePosition <= fileSize.
public final class MappedFile: Sendable {
    public let path: String
    public let fileFromOffset: Int64
    public let fileSize: Int
    /// The open segment (tests patch bytes through it to simulate bit rot).
    public let fd: SystemPackage.FileDescriptor
    private let wrote = Atomic<Int>(0)
    private let flushed = Atomic<Int>(0)
    /// Appends through a mapping (nil: through `pwrite`). Locked, though only the appending owner
    /// (which also truncates) uses it, so that the class stays Sendable.
    private let mapping: NIOLockedValueBox<AppendMapping>?

    public static func fileName(for offset: Int64) -> String {
        let digits = String(offset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// Opens (creating and sizing if needed) the segment at `directory/fileName(offset)`.
    public init(directory: String, fileFromOffset: Int64, fileSize: Int, mappedAppends: Bool = false) throws {
        self.path = directory + "/" + Self.fileName(for: fileFromOffset)
        self.fileFromOffset = fileFromOffset
        self.fileSize = fileSize
        self.mapping = mappedAppends ? NIOLockedValueBox(AppendMapping()) : nil
        do {
            fd = try SystemPackage.FileDescriptor.open(
                FilePath(path), .readWrite, options: [.create], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch let error as Errno {
            throw StoreError.io(path: path, offset: 0, errno: error.rawValue)
        }
        var info = stat()
        if fstat(fd.rawValue, &info) == 0, Int(info.st_size) < fileSize {
            // Sparse: unwritten bytes read as zeros, which recovery reads as "end of data".
            guard ftruncate(fd.rawValue, off_t(fileSize)) == 0 else {
                throw StoreError.io(path: path, offset: 0, errno: errno)
            }
        }
    }

    deinit {
        mapping?.withLockedValue { $0.unmap(fileSize: fileSize) }
        try? fd.close()
    }

    public var wrotePosition: Int { wrote.load(ordering: .acquiring) }
    public var flushedPosition: Int { flushed.load(ordering: .acquiring) }
    public var isFull: Bool { wrotePosition >= fileSize }
    public var remaining: Int { fileSize - wrotePosition }

    /// Appends at the write position. Caller serializes appends.
    public func append(_ bytes: ByteBuffer) throws {
        try bytes.withUnsafeReadableBytes { try append($0) }
    }

    /// Appends at the write position. Caller serializes appends.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        let position = wrotePosition
        precondition(position + bytes.count <= fileSize, "append of \(bytes.count) at \(position) overflows \(path)")
        if let mapping,
            try mapping.withLockedValue({
                try $0.append(
                    bytes, at: position, fd: fd.rawValue, fileSize: fileSize, path: path, fileFromOffset: fileFromOffset
                )
            })
        {
            wrote.store(position + bytes.count, ordering: .releasing)
            return
        }
        do {
            let written = try fd.writeAll(toAbsoluteOffset: Int64(position), bytes)
            precondition(written == bytes.count)
        } catch let error as Errno {
            throw StoreError.io(path: path, offset: fileFromOffset + Int64(position), errno: error.rawValue)
        }
        wrote.store(position + bytes.count, ordering: .releasing)
    }

    /// Reads `count` bytes at `position` (relative to the file start).
    public func read(at position: Int, count: Int) throws -> ByteBuffer {
        precondition(
            position >= 0 && count >= 0 && position + count <= fileSize, "read \(count) at \(position) of \(path)")
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        do {
            let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
                var done = 0
                while done < count {
                    let slice = UnsafeMutableRawBufferPointer(rebasing: pointer[done..<count])
                    let n = try fd.read(fromAbsoluteOffset: Int64(position + done), into: slice)
                    if n == 0 { break }
                    done += n
                }
                return done
            }
            guard got == count else { throw StoreError.outOfRange(offset: fileFromOffset + Int64(position + count)) }
        } catch let error as Errno {
            throw StoreError.io(path: path, offset: fileFromOffset + Int64(position), errno: error.rawValue)
        }
        return buffer
    }

    /// fsync; afterwards everything written so far survives a machine crash.
    public func flush() throws {
        let position = wrotePosition
        guard position > flushedPosition else { return }
        do {
            try fd.fsync()
        } catch let error as Errno {
            throw StoreError.io(path: path, offset: fileFromOffset + Int64(position), errno: error.rawValue)
        }
        flushed.store(position, ordering: .releasing)
    }

    /// Sets the write position (recovery) and zeroes everything after it, so a later scan stops
    /// there instead of reading a stale tail.
    public func truncate(to position: Int) throws {
        precondition(position >= 0 && position <= fileSize)
        guard ftruncate(fd.rawValue, off_t(position)) == 0, ftruncate(fd.rawValue, off_t(fileSize)) == 0 else {
            throw StoreError.io(path: path, offset: fileFromOffset + Int64(position), errno: errno)
        }
        wrote.store(position, ordering: .releasing)
        flushed.store(min(flushedPosition, position), ordering: .releasing)
        // The cut freed the blocks after `position`: they must be reserved again.
        mapping?.withLockedValue { $0.reservedEnd = min($0.reservedEnd, position) }
    }

    /// Marks the file as written up to `position` without touching its bytes (loading).
    public func setWrotePosition(_ position: Int) {
        wrote.store(position, ordering: .releasing)
        flushed.store(position, ordering: .releasing)
    }

    public func delete() {
        unlink(path)
    }

    /// The file's modification time (retention counts from the last write).
    public var lastModifiedMillis: Int64 {
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else { return 0 }
        return Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
    }
}
