import Common
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A process the runner started and owns: signalled and reaped by its pid only, its output
/// appended to a log file. It gets its own process group, so a signal meant for the runner's
/// terminal does not reach it, and the runner decides when it ends.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `pid` and `exitStatus` are only touched by the runner's sequential main flow.
    let name: String
    let arguments: [String]
    let environment: [String: String]
    let logPath: String
    private(set) var pid: pid_t = 0
    private(set) var exitStatus: Int32?

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
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        pid = try ProcessSpawn.start(
            arguments, environment: env.map { "\($0.key)=\($0.value)" }, stdoutPath: logPath, stderrPath: logPath)
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
