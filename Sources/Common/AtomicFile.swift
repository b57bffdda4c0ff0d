import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file-system call that failed, with the path it was about: start-up errors must say which
/// file or directory is at fault.
public struct FileError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Errno

    public init(_ operation: String, path: String, errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "cannot \(operation) \(path): \(errno)" }

    /// Runs `body`, naming `path` in any `Errno` it throws.
    public static func naming<T>(_ operation: String, _ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as Errno {
            throw FileError(operation, path: path, errno: error)
        }
    }
}

/// Small state files (offsets, topics, KV config) written so a crash leaves either the old or
/// the new version: write `path.tmp`, fsync it, rename over `path`, fsync the directory.
public enum AtomicFile {
    public static func write(_ text: String, to path: String) throws {
        let directory = parentDirectory(of: path)
        try Directories.create(directory)
        let temporary = path + ".tmp"
        try FileError.naming("write", temporary) {
            let fd = try FileDescriptor.open(
                FilePath(temporary), .writeOnly, options: [.create, .truncate],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try fd.closeAfter {
                _ = try fd.writeAll(Array(text.utf8))
                try fd.fsync()
            }
        }
        guard rename(temporary, path) == 0 else {
            throw FileError("rename to", path: path, errno: Errno(rawValue: errno))
        }
        try FileError.naming("fsync directory", directory) {
            let directoryFD = try FileDescriptor.open(FilePath(directory), .readOnly)
            try directoryFD.closeAfter { try directoryFD.fsync() }
        }
    }

    /// The file's text, or nil when it does not exist.
    public static func read(_ path: String) throws -> String? {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly)
        } catch Errno.noSuchFileOrDirectory {
            return nil
        } catch let error as Errno {
            throw FileError("open", path: path, errno: error)
        }
        return try FileError.naming("read", path) {
            try fd.closeAfter {
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
                    if count == 0 { break }
                    bytes.append(contentsOf: chunk[0..<count])
                }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

public enum Directories {
    /// `mkdir -p`.
    public static func create(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw FileError("create directory", path: current, errno: Errno(rawValue: errno))
            }
        }
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Names of the entries of a directory (no `.` and `..`), or [] when it does not exist.
    public static func list(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func expandHome(_ path: String) -> String {
        guard path.hasPrefix("~") else { return path }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/root"
        return home + path.dropFirst()
    }
}

extension FileDescriptor {
    /// `fsync(2)`: the data and metadata of this file reach the device.
    public func fsync() throws {
        #if canImport(Glibc)
            guard Glibc.fsync(rawValue) == 0 else { throw Errno(rawValue: errno) }
        #else
            guard Darwin.fsync(rawValue) == 0 else { throw Errno(rawValue: errno) }
        #endif
    }
}

extension Directories {
    /// Removes a file; a missing file is fine.
    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw Errno(rawValue: errno) }
    }
}
