import Common
import NIOCore
import Remoting

/// Message keys and unique ids → CommitLog offsets (`IndexService`): `index/` holds IndexFiles
/// named by their creation time (`yyyyMMddHHmmssSSS`, UTC); keys are `topic#key` for every
/// space-separated KEYS token and `topic#UNIQ_KEY`.
struct IndexService {
    let directory: String
    let slotCount: Int
    let entryCount: Int
    var files: [IndexFile] = []

    init(directory: String, slotCount: Int, entryCount: Int) {
        self.directory = directory
        self.slotCount = slotCount
        self.entryCount = entryCount
    }

    /// Opens the files; an index reaching past the recovered CommitLog end is clamped so records
    /// written from there on are indexed again.
    mutating func load(commitLogEnd: Int64) throws {
        try Directories.create(directory)
        files = try Directories.list(directory).filter { $0.utf8.count == 17 && !$0.contains(".") }.map {
            try IndexFile(path: directory + "/" + $0, slotCount: slotCount, entryCount: entryCount)
        }
        if let last = files.last, last.indexCount > 1, last.endPhyOffset >= commitLogEnd {
            last.clampEnd(to: commitLogEnd - 1)
        }
    }

    /// CommitLog offset from which records still need indexing.
    var indexedThrough: Int64? {
        guard let last = files.last, last.indexCount > 1 else { return nil }
        return last.endPhyOffset
    }

    var lastUpdate: (timestamp: Int64, phyOffset: Int64) {
        (files.last?.endTimestamp ?? 0, files.last?.endPhyOffset ?? 0)
    }

    mutating func build(_ request: DispatchRequest) throws {
        if MessageSysFlag.transactionValue(request.sysFlag) == MessageSysFlag.transactionRollbackType { return }
        if let through = indexedThrough, request.commitLogOffset <= through { return }  // re-dispatch after recovery
        // Each key is indexed as `topic#key`; the unique key first, then the space-separated keys.
        if let unique = request.uniqueKey, !unique.isEmpty {
            try put(
                hash: IndexFile.keyHash(topic: request.topic, key: unique[...]), phyOffset: request.commitLogOffset,
                storeTimestamp: request.storeTimestamp)
        }
        for key in (request.keys ?? "").split(separator: " ") {
            try put(
                hash: IndexFile.keyHash(topic: request.topic, key: key), phyOffset: request.commitLogOffset,
                storeTimestamp: request.storeTimestamp)
        }
    }

    private mutating func put(hash: Int32, phyOffset: Int64, storeTimestamp: Int64) throws {
        if let last = files.last, try last.put(hash: hash, phyOffset: phyOffset, storeTimestamp: storeTimestamp) {
            return
        }
        var name = Self.fileName(millis: currentTimeMillis())
        while files.contains(where: { $0.path.hasSuffix("/" + name) }) {
            name = Self.fileName(millis: Int64(name)! + 1)
        }
        let file = try IndexFile(path: directory + "/" + name, slotCount: slotCount, entryCount: entryCount)
        files.append(file)
        let stored = try file.put(hash: hash, phyOffset: phyOffset, storeTimestamp: storeTimestamp)
        precondition(stored, "a new index file is full")
    }

    /// Offsets stored for `key` within [begin, end], newest first, at most `maxCount`, no repeats.
    func query(key: String, beginMillis: Int64, endMillis: Int64, maxCount: Int) -> [Int64] {
        var offsets: [Int64] = []
        for file in files.reversed() where offsets.count < maxCount {
            for offset in file.select(key: key, beginMillis: beginMillis, endMillis: endMillis, maxCount: maxCount)
            where !offsets.contains(offset) && offsets.count < maxCount {
                offsets.append(offset)
            }
        }
        return offsets
    }

    func flush() throws {
        for file in files { try file.flush() }
    }

    /// Retention: drops index files (not the last) that only point below `commitLogMin`.
    mutating func deleteExpired(commitLogMin: Int64) -> Int {
        var deleted = 0
        while files.count > 1, files[0].endPhyOffset < commitLogMin {
            files.removeFirst().delete()
            deleted += 1
        }
        return deleted
    }

    /// `yyyyMMddHHmmssSSS` in UTC (RocketMQ uses local time; UTC keeps names ordered across zones).
    static func fileName(millis: Int64) -> String {
        let days = millis / 86_400_000
        let dayMillis = millis % 86_400_000
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(year, 4) + pad(month, 2) + pad(day, 2) + pad(dayMillis / 3_600_000, 2)
            + pad(dayMillis / 60_000 % 60, 2) + pad(dayMillis / 1000 % 60, 2) + pad(dayMillis % 1000, 3)
    }
}
