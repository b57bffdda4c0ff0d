#if canImport(Glibc)
    import Glibc
#endif

/// How full the filesystem holding a path is (`statvfs`), as RocketMQ's `UtilAll.getDiskPartitionSpaceUsedPercent`.
enum DiskUsage {
    /// Used fraction in [0, 1], or nil when the path cannot be examined.
    static func usedRatio(of path: String) -> Double? {
        var info = statvfs()
        guard statvfs(path, &info) == 0, info.f_blocks > 0 else { return nil }
        return Double(info.f_blocks - info.f_bfree) / Double(info.f_blocks)
    }
}
