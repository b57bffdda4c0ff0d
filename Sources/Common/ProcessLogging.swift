/// Log level for the executables: `ROCKETMQ_LOG_LEVEL` (trace…critical), default info.
public func logLevelFromEnvironment() -> String {
    #if canImport(Glibc)
        if let value = getenv("ROCKETMQ_LOG_LEVEL") { return String(cString: value) }
    #endif
    return "info"
}

#if canImport(Glibc)
    import Glibc
#endif
