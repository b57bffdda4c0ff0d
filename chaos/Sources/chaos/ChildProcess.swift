import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A process the runner started and owns: signalled and reaped by its pid only, its output
/// appended to a log file. It gets its own process group, so a signal meant for the runner's
/// terminal does not reach it, and the runner decides when it ends.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `pid` and `exited` are only touched by the runner's sequential main flow.
    let name: String
    let arguments: [String]
    let environment: [String: String]
    let logPath: String
    private(set) var pid: pid_t = 0
    private(set) var exitStatus: Int32?

    struct SpawnError: Error, CustomStringConvertible {
        var program: String
        var errno: Int32
        var description: String { "starting \(program) failed: \(String(cString: strerror(errno)))" }
    }

    init(name: String, arguments: [String], environment: [String: String] = [:], logPath: String) {
        self.name = name
        self.arguments = arguments
        self.environment = environment
        self.logPath = logPath
    }

    var isRunning: Bool {
        guard pid > 0, exitStatus == nil else { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = status
            return false
        }
        return true
    }

    func start() throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
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
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let envStrings = env.map { "\($0.key)=\($0.value)" }
        var newPid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            withCStrings(envStrings) { envp in posix_spawn(&newPid, arguments[0], &actions, &attributes, argv, envp) }
        }
        guard result == 0 else { throw SpawnError(program: arguments[0], errno: result) }
        pid = newPid
        exitStatus = nil
    }

    func signal(_ signal: Int32) {
        guard isRunning else { return }
        _ = kill(pid, signal)
    }

    /// SIGKILL, then reap: the pid is free to be reused only after this.
    func killAndReap() {
        guard isRunning else { return }
        _ = kill(pid, SIGCONT)
        _ = kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        exitStatus = status
    }

    /// SIGTERM (the graceful stop), SIGKILL if it has not exited within `timeoutSecs`.
    func stop(timeoutSecs: Double) async {
        guard isRunning else { return }
        _ = kill(pid, SIGCONT)
        _ = kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeoutSecs)
        while isRunning, Date() < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        killAndReap()
    }
}

func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}

/// Runs a system tool (nft, mount, fiu-ctrl) to completion; its output goes to the runner's log.
@discardableResult
func runTool(_ arguments: [String], log: (String) -> Void) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    log("$ \(arguments.joined(separator: " "))" + (text.isEmpty ? "" : "\n  " + text))
    return process.terminationStatus
}
