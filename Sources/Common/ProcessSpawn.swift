#if canImport(Glibc)
    import Glibc
#endif

/// Starting a server process that lives on its own: standard input from /dev/null, output
/// appended to files, default signal handling, and a process group of its own (a signal to the
/// starter's terminal does not reach it). Used by the tools that restart servers (mqbench W3,
/// the chaos runner).
public enum ProcessSpawn {
    public struct Failed: Error, CustomStringConvertible {
        public var program: String
        public var errno: Int32
        public var description: String { "starting \(program) failed: \(String(cString: strerror(errno)))" }
    }

    /// Starts `arguments[0]` (an absolute path) with `arguments` and `environment`
    /// (`KEY=value`); returns its pid. Standard error goes where standard output does when the
    /// paths are equal.
    public static func start(
        _ arguments: [String], environment: [String], stdoutPath: String, stderrPath: String
    ) throws(Failed) -> Int32 {
        precondition(!arguments.isEmpty, "a process needs a program")
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
        var pid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp) }
        }
        guard result == 0 else { throw Failed(program: arguments[0], errno: result) }
        return pid
    }

    /// A NULL-terminated C string array for the duration of `body`.
    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}
