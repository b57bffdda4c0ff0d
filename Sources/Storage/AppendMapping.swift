#if canImport(Glibc)
    import Glibc
#endif

/// A segment's appends as stores into a shared mapping of the file, instead of one `pwrite` per
/// append: for files written in many small pieces (a ConsumeQueue's 20-byte entries), where the
/// system call costs more than the copy. RocketMQ writes all its files this way.
///
/// A store into a page whose disk block is not allocated would raise SIGBUS on a full disk, so
/// blocks are reserved with `posix_fallocate` in chunks ahead of the write position: a full disk
/// fails that call, with ENOSPC, like a `pwrite` would. A file system without `fallocate` sends
/// this file's appends back to `pwrite`. The mapping lives while the file takes appends.
///
/// Unchecked Sendable: it holds the mapping's address, and `MappedFile` only touches it under
/// its lock.
struct AppendMapping: @unchecked Sendable {
    /// Blocks are reserved this far ahead of an append.
    static let reserveChunkBytes = 1 << 20
    static let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
    private var base: UnsafeMutableRawPointer?
    /// The file's first `reservedEnd` bytes have disk blocks.
    var reservedEnd = 0
    /// `fallocate` is not supported here: appends use `pwrite`.
    private var unsupported = false

    /// Copies `bytes` to `position`; false when the caller must `pwrite` them instead.
    mutating func append(
        _ bytes: UnsafeRawBufferPointer, at position: Int, fd: Int32, fileSize: Int, path: String, fileFromOffset: Int64
    ) throws -> Bool {
        guard !unsupported, bytes.count > 0 else { return false }
        let end = position + bytes.count
        if end > reservedEnd {
            let from = max(reservedEnd, position)
            var target = min(fileSize, max(end, from + Self.reserveChunkBytes))
            var result = posix_fallocate(fd, off_t(from), off_t(target - from))
            if result == ENOSPC, target > end {
                // A nearly full disk (recovery re-dispatching on one, say): reserve only the pages
                // this append touches, often blocks the file already has. (Whole pages: a store
                // faults in its whole page, which must not meet an unreserved block.)
                target = min(fileSize, (end + Self.pageSize - 1) / Self.pageSize * Self.pageSize)
                result = posix_fallocate(fd, off_t(from), off_t(target - from))
            }
            if result == EOPNOTSUPP || result == ENOSYS {
                unsupported = true
                unmap(fileSize: fileSize)
                return false
            }
            guard result == 0 else {
                throw StoreError.io(path: path, offset: fileFromOffset + Int64(from), errno: result)
            }
            reservedEnd = target
        }
        if base == nil {
            guard let mapped = mmap(nil, fileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED
            else { throw StoreError.io(path: path, offset: fileFromOffset + Int64(position), errno: errno) }
            base = mapped
        }
        (base! + position).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        // A full file takes no more appends: give its address space back.
        if end == fileSize { unmap(fileSize: fileSize) }
        return true
    }

    mutating func unmap(fileSize: Int) {
        if let base { munmap(base, fileSize) }
        base = nil
    }
}
