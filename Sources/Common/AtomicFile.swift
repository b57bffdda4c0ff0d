import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small state files (offsets, topics, KV config) written so a crash leaves either the old or
/// the new version: write `path.tmp`, fsync it, rename over `path`, fsync the directory.
public enum AtomicFile {
    public static func write(_ text: String, to path: String) throws {
        let directory = parentDirectory(of: path)
        try Directories.create(directory)
        let temporary = path + ".tmp"
        let fd = try FileDescriptor.open(
            FilePath(temporary), .writeOnly, options: [.create, .truncate],
            permissions: [.ownerReadWrite, .groupRead, .otherRead])
        try fd.closeAfter {
            _ = try fd.writeAll(Array(text.utf8))
            try fd.fsync()
        }
        guard rename(temporary, path) == 0 else { throw Errno(rawValue: errno) }
        let directoryFD = try FileDescriptor.open(FilePath(directory), .readOnly)
        try directoryFD.closeAfter { try directoryFD.fsync() }
    }

    /// The file's text, or nil when it does not exist.
    public static func read(_ path: String) throws -> String? {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly)
        } catch Errno.noSuchFileOrDirectory {
            return nil
        }
        return try fd.closeAfter {
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
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
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
