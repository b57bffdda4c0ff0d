#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The machine's RAM, for ratios of it in the config (`accessMessageInMemoryMaxRatio`).
public enum PhysicalMemory {
    public static var bytes: Int64 {
        let pages = Int64(sysconf(Int32(_SC_PHYS_PAGES)))
        let pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))
        guard pages > 0, pageSize > 0 else { return 0 }
        return pages.saturatingMultiplied(by: pageSize)
    }
}
