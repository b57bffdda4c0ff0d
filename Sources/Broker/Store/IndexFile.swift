import Common
import Remoting
import Storage

#if canImport(Glibc)
    import Glibc
#endif

/// One index file (RocketMQ's `IndexFile`), memory-mapped:
/// ```
/// | header 40 | hash slots: slotCount × 4 | entries: entryCount × 20 |
/// header: beginTimestamp 8 | endTimestamp 8 | beginPhyOffset 8 | endPhyOffset 8 | hashSlotCount 4 | indexCount 4
/// slot:   int32, number of the newest entry whose key hashes here (0 = none)
/// entry:  keyHash 4 | phyOffset 8 | timeDiff 4 (seconds after beginTimestamp) | previous entry number 4
/// ```
/// Entries are numbered from 1; each slot heads a chain through `previous`.
/// Used only under the store lock.
final class IndexFile {
    static let headerSize = 40
    static let entrySize = 20
    let path: String
    let slotCount: Int
    let entryCount: Int
    let fileSize: Int
    private let fd: Int32
    private let base: UnsafeMutableRawPointer

    /// Bytes of the file known to be allocated on disk (so stores through the mapping cannot fault).
    private var allocatedEnd = 0
    /// Entry space is reserved this far ahead of the newest entry.
    static let allocationChunkBytes = 1 << 20

    init(path: String, slotCount: Int, entryCount: Int) throws {
        self.path = path
        self.slotCount = slotCount
        self.entryCount = entryCount
        fileSize = Self.headerSize + slotCount * 4 + entryCount * Self.entrySize
        fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw StoreError.io(path: path, offset: 0, errno: errno) }
        var info = stat()
        if fstat(fd, &info) == 0, Int(info.st_size) < fileSize, ftruncate(fd, off_t(fileSize)) != 0 {
            close(fd)
            throw StoreError.io(path: path, offset: 0, errno: errno)
        }
        guard let mapped = mmap(nil, fileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            close(fd)
            throw StoreError.io(path: path, offset: 0, errno: errno)
        }
        base = mapped
        do {
            // The header and slots are written at random; entries only at the end. Reserve the
            // header and slots now and the entries as they grow (a reopened file: up to its end).
            try reserve(through: Self.headerSize + slotCount * 4)
            if indexCount == 0 { store(Int32(1), at: 36) }  // entry numbers start at 1, as in RocketMQ
            try reserve(through: entryOffset(of: Int(indexCount)))
        } catch {
            munmap(base, fileSize)
            close(fd)
            throw error
        }
    }

    deinit {
        munmap(base, fileSize)
        close(fd)
    }

    private func load<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) -> T {
        T(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Stores go through the mapping, into space `reserve` allocated: a store into an
    /// unallocated page of a full filesystem would raise SIGBUS instead of returning ENOSPC.
    private func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset + MemoryLayout<T>.size <= allocatedEnd, "store at \(offset) past reserved \(allocatedEnd)")
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }

    /// Allocates disk blocks for the file's first `end` bytes (and a chunk beyond), so later
    /// stores there cannot fail; a full disk fails here, with ENOSPC.
    private func reserve(through end: Int) throws {
        guard end > allocatedEnd else { return }
        let target = min(fileSize, max(end, allocatedEnd + Self.allocationChunkBytes))
        let result = posix_fallocate(fd, off_t(allocatedEnd), off_t(target - allocatedEnd))
        guard result == 0 else { throw StoreError.io(path: path, offset: Int64(allocatedEnd), errno: result) }
        allocatedEnd = target
    }

    private func entryOffset(of number: Int) -> Int { Self.headerSize + slotCount * 4 + number * Self.entrySize }

    var beginTimestamp: Int64 { load(0, as: Int64.self) }
    var endTimestamp: Int64 { load(8, as: Int64.self) }
    var beginPhyOffset: Int64 { load(16, as: Int64.self) }
    var endPhyOffset: Int64 { load(24, as: Int64.self) }
    var usedSlots: Int32 { load(32, as: Int32.self) }
    /// The next entry number (entries 1 ..< indexCount are written).
    var indexCount: Int32 { load(36, as: Int32.self) }

    var isFull: Bool { Int(indexCount) >= entryCount }

    /// Java `String.hashCode` of the key, made non-negative as RocketMQ does.
    static func keyHash(_ key: String) -> Int32 {
        nonNegative(Int32(truncatingIfNeeded: TagHash.code(key)))
    }

    /// `keyHash(topic + "#" + key)` without building that string (the hash folds left to right).
    static func keyHash(topic: String, key: Substring) -> Int32 {
        nonNegative(TagHash.javaHash(key, continuing: TagHash.javaHash("#", continuing: TagHash.javaHash(topic))))
    }

    private static func nonNegative(_ hash: Int32) -> Int32 { hash == Int32.min ? 0 : abs(hash) }

    /// Adds an entry for the key whose `keyHash` is `hash` → `phyOffset`; false when the file is full.
    func put(hash: Int32, phyOffset: Int64, storeTimestamp: Int64) throws -> Bool {
        guard !isFull else { return false }
        let number = indexCount
        let entryOffset = entryOffset(of: Int(number))
        try reserve(through: entryOffset + Self.entrySize)
        let slotOffset = Self.headerSize + Int(hash) % slotCount * 4
        let previous = load(slotOffset, as: Int32.self)
        if number == 1 {
            store(storeTimestamp, at: 0)
            store(phyOffset, at: 16)
        }
        store(hash, at: entryOffset)
        store(phyOffset, at: entryOffset + 4)
        store(Int32(clamping: max(0, (storeTimestamp - beginTimestamp) / 1000)), at: entryOffset + 12)
        store(previous, at: entryOffset + 16)
        store(number, at: slotOffset)
        if previous == 0 { store(usedSlots + 1, at: 32) }
        store(number + 1, at: 36)
        store(storeTimestamp, at: 8)
        store(phyOffset, at: 24)
        return true
    }

    /// Recovery: the index must not claim records past the CommitLog's end.
    func clampEnd(to offset: Int64) { store(offset, at: 24) }

    /// Physical offsets of entries for `key` stored within [begin, end] (ms), newest first.
    func select(key: String, beginMillis: Int64, endMillis: Int64, maxCount: Int) -> [Int64] {
        guard indexCount > 1, beginTimestamp <= endMillis, endTimestamp >= beginMillis else { return [] }
        let hash = Self.keyHash(key)
        var number = load(Self.headerSize + Int(hash) % slotCount * 4, as: Int32.self)
        var offsets: [Int64] = []
        var steps = 0
        while number > 0, number < indexCount, offsets.count < maxCount, steps < entryCount {
            let entryOffset = entryOffset(of: Int(number))
            let time = beginTimestamp + Int64(load(entryOffset + 12, as: Int32.self)) * 1000
            if load(entryOffset, as: Int32.self) == hash, time + 999 >= beginMillis, time <= endMillis {
                offsets.append(load(entryOffset + 4, as: Int64.self))
            }
            let previous = load(entryOffset + 16, as: Int32.self)
            guard previous < number else { break }  // chains only point back; anything else is damage
            number = previous
            steps += 1
        }
        return offsets
    }

    /// Writes the mapping's dirty pages to disk.
    func flush() throws {
        guard msync(base, fileSize, MS_SYNC) == 0 else { throw StoreError.io(path: path, offset: 0, errno: errno) }
    }

    func delete() { unlink(path) }
}
