import Foundation
import Logging
import Synchronization

/// The runner's own log (`runner.log`), every line also on standard output, stamped with the
/// run's clock.
final class RunnerLog: Sendable {
    let path: String
    let started = ContinuousClock.now
    private let handle: Mutex<FileHandle?>

    init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = Mutex(try FileHandle(forWritingTo: URL(fileURLWithPath: path)))
    }

    func line(_ text: String) { write(text, echo: true) }

    /// To the log file only (firewall commands: many lines, little news).
    func quiet(_ text: String) { write(text, echo: false) }

    private func write(_ text: String, echo: Bool) {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let stamped = String(format: "[%8.2f] ", seconds) + text + "\n"
        if echo { FileHandle.standardOutput.write(Data(stamped.utf8)) }
        handle.withLock { $0?.write(Data(stamped.utf8)) }
    }
}

/// A system tool's exit status, turned into an error when it is not 0.
struct ToolFailed: Error, CustomStringConvertible {
    var what: String
    var status: Int32
    var description: String { "\(what) failed (exit status \(status))" }
}

extension Int32 {
    func orThrow(_ what: String) throws(ToolFailed) {
        guard self == 0 else { throw ToolFailed(what: what, status: self) }
    }
}

extension Logger {
    /// The clients' loggers in the runner: failures are the history's business, not the log's.
    static func quiet(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .critical
        return logger
    }
}
