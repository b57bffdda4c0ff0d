/// What went wrong in a store file, and where.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    case io(path: String, offset: Int64, errno: Int32)
    case corruptRecord(path: String, offset: Int64, reason: String)
    case outOfRange(offset: Int64)

    public var description: String {
        switch self {
        case .io(let path, let offset, let errno): "I/O error \(errno) on \(path) at \(offset)"
        case .corruptRecord(let path, let offset, let reason): "corrupt record in \(path) at \(offset): \(reason)"
        case .outOfRange(let offset): "offset \(offset) is outside the stored range"
        }
    }
}
