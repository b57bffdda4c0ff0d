import Common
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Retention and disk-space policy (`CleanCommitLogService` + the disk check of
/// `DefaultMessageStore`), run every `cleanResourceInterval`:
/// * above `diskSpaceWarningLevelRatio` the store refuses writes until space is freed;
/// * at a `deleteWhen` hour, or above `diskMaxUsedSpaceRatio` %, segments older than
///   `fileReservedTime` hours are deleted;
/// * above `diskSpaceCleanForciblyRatio` the oldest segments go regardless of age (set it above
///   the warning level to refuse writes rather than delete unconsumed data).
struct CleanService: Sendable {
    let config: BrokerConfig
    let store: MessageStore
    let logger: Logger

    func run(now: Int64 = currentTimeMillis()) {
        let ratio = DiskUsage.usedRatio(of: config.storePathCommitLog) ?? 0
        if ratio > config.diskSpaceWarningLevelRatio {
            store.setWritesBlocked(
                "the broker's disk is full: \(Int(ratio * 100))% used > diskSpaceWarningLevelRatio \(Int(config.diskSpaceWarningLevelRatio * 100))%; writes resume when space is freed"
            )
        } else {
            store.setWritesBlocked(nil)
        }
        let force = ratio > config.diskSpaceCleanForciblyRatio
        let spaceFull = ratio > Double(config.diskMaxUsedSpaceRatio) / 100
        guard force || spaceFull || config.deleteWhen.contains(Self.localHour(now)) else { return }
        let cutoff: Int64? = force ? nil : now - Int64(config.fileReservedTime) * 3_600_000
        let result = store.cleanExpiredFiles(writtenBefore: cutoff)
        if result != MessageStore.CleanResult() {
            logger.info(
                "cleaned \(result.commitLogFiles) CommitLog, \(result.consumeQueueFiles) ConsumeQueue, \(result.indexFiles) index files (disk \(Int(ratio * 100))% used\(force ? ", forced" : ""))"
            )
        }
    }

    static func localHour(_ millis: Int64) -> Int {
        var seconds = time_t(millis / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return Int(parts.tm_hour)
    }
}
