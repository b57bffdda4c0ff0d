import Common

#if canImport(Glibc)
    import Glibc
#endif

/// How a server process on this machine was started, read from `/proc/<pid>` so W3 can kill
/// it and later start it again the same way: same program and arguments, working directory,
/// environment, and standard output/error appended to the same files.
struct NodeProcess: Sendable, CustomStringConvertible {
    var pid: Int32
    var arguments: [String]
    var workingDirectory: String
    var environment: [String]
    /// Where fds 1 and 2 pointed (regular files only; anything else becomes /dev/null).
    var stdoutPath: String
    var stderrPath: String

    var description: String { "pid \(pid): \(arguments.joined(separator: " "))" }

    enum ProcessError: Error, CustomStringConvertible {
        case unreadable(pid: Int32, what: String)
        var description: String {
            switch self {
            case .unreadable(let pid, let what): "cannot read \(what) of process \(pid) (is it on this machine?)"
            }
        }
    }

    init(pid: Int32) throws {
        self.pid = pid
        guard let cmdline = CPUSample.read("/proc/\(pid)/cmdline"), !cmdline.isEmpty else {
            throw ProcessError.unreadable(pid: pid, what: "cmdline")
        }
        arguments = cmdline.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        if arguments.last == "" { arguments.removeLast() }
        guard let cwd = Self.readLink("/proc/\(pid)/cwd") else { throw ProcessError.unreadable(pid: pid, what: "cwd") }
        workingDirectory = cwd
        environment = (CPUSample.read("/proc/\(pid)/environ") ?? "").split(separator: "\0").map(String.init)
        stdoutPath = Self.regularFile(Self.readLink("/proc/\(pid)/fd/1"))
        stderrPath = Self.regularFile(Self.readLink("/proc/\(pid)/fd/2"))
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func regularFile(_ path: String?) -> String {
        guard let path, path.hasPrefix("/") else { return "/dev/null" }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return "/dev/null" }
        return path
    }

    func kill() {
        _ = Glibc.kill(pid, SIGKILL)
    }

    /// Starts the process again, in its own process group (not a child that dies with us);
    /// returns the new pid.
    func relaunch() throws -> Int32 {
        // The shell enters the working directory (relative program and config paths keep
        // working) and then becomes the server; the paths travel as arguments, unquoted.
        let shell = ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, workingDirectory] + arguments
        return try ProcessSpawn.start(shell, environment: environment, stdoutPath: stdoutPath, stderrPath: stderrPath)
    }
}
