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
        case spawnFailed(errno: Int32, program: String)
        var description: String {
            switch self {
            case .unreadable(let pid, let what): "cannot read \(what) of process \(pid) (is it on this machine?)"
            case .spawnFailed(let code, let program): "starting \(program) failed: errno \(code)"
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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        if stderrPath == stdoutPath {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        // The shell enters the working directory (relative program and config paths keep
        // working) and then becomes the server; the paths travel as arguments, unquoted.
        let shell = ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, workingDirectory] + arguments
        var newPid: pid_t = 0
        let result = Self.withCStrings(shell) { argv in
            Self.withCStrings(environment) { envp in
                posix_spawn(&newPid, "/bin/sh", &actions, &attributes, argv, envp)
            }
        }
        guard result == 0 else { throw ProcessError.spawnFailed(errno: result, program: arguments[0]) }
        return newPid
    }

    /// A NULL-terminated C string array for the duration of `body`.
    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}
