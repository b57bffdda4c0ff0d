import ArgumentParser
import Broker
import Common
import Logging
import NIOCore
import Remoting

#if canImport(Glibc)
    import Glibc
#endif

/// Store throughput and recovery time, measured on the real MessageStore (not a test).
@main
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-bench",
        abstract: "Append throughput (ASYNC_FLUSH, SYNC_FLUSH) and recovery time of the broker store.")

    @Option(help: "Directory for the store files (a fresh subdirectory is created and removed).")
    var dir: String = "/tmp"

    @Option(help: "Message body size in bytes.")
    var size: Int = 1024

    @Option(help: "Messages per append run.")
    var count: Int = 200_000

    @Option(help: "Concurrent senders.")
    var senders: Int = 32

    @Option(help: "CommitLog bytes to write for the recovery measurement (0 skips it).")
    var recoveryBytes: Int = 1 << 30

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let logger = Logger(label: "store-bench")
        for flush in [FlushDiskType.asyncFlush, .syncFlush] {
            for concurrency in [1, senders] {
                let messages = flush == .syncFlush && concurrency == 1 ? min(count, 5_000) : count
                let root = try makeRoot()
                let store = try makeStore(root: root, flush: flush, logger: logger)
                let seconds = try await append(store: store, messages: messages, concurrency: concurrency)
                store.shutdown()
                report(flush.rawValue, concurrency: concurrency, messages: messages, seconds: seconds)
                remove(root)
            }
        }
        try await measureReadChecks(logger: logger)
        if recoveryBytes > 0 { try await measureRecovery(logger: logger) }
    }

    /// What verifying every record on read (size, magic, lengths, body CRC, record checksum)
    /// costs a pull: the pull path with its checks, and the checks alone over the same bytes.
    func measureReadChecks(logger: Logger) async throws {
        let root = try makeRoot()
        defer { remove(root) }
        let store = try makeStore(root: root, flush: .asyncFlush, logger: logger)
        let messages = min(count, 100_000)
        _ = try await append(store: store, messages: messages, concurrency: senders)
        let clock = ContinuousClock()
        var batches: [ByteBuffer] = []
        var served = 0
        let pullStart = clock.now
        for queue in Int32(0)..<8 {
            var offset: Int64 = 0
            while true {
                let result = store.getMessage(
                    topic: "BenchTopic", queueId: queue, offset: offset, maxCount: 32, filter: nil)
                guard result.status == .found else { break }
                served += result.messageCount
                offset = result.nextBeginOffset
                batches.append(result.messages)
            }
        }
        let pullSeconds = seconds(clock.now - pullStart)
        let checkStart = clock.now
        var checked = 0
        for batch in batches {
            var position = batch.readerIndex
            while position < batch.writerIndex, let size = batch.getInteger(at: position, as: Int32.self) {
                guard
                    RecordScanner.problem(
                        in: batch.getSlice(at: position, length: Int(size))!, checkingBodyCRC: false) == nil
                else {
                    throw ValidationError("record at \(position) of a pull batch failed its check")
                }
                position += Int(size)
                checked += 1
            }
        }
        let checkSeconds = seconds(clock.now - checkStart)
        store.shutdown()
        guard served == messages, checked == messages else {
            throw ValidationError("served \(served), checked \(checked) of \(messages) messages")
        }
        let pullMicros = pullSeconds * 1e6 / Double(served)
        let checkMicros = checkSeconds * 1e6 / Double(checked)
        print(
            "store-bench: read checks size=\(size) messages=\(served) pull_us_per_msg=\(Self.twoDecimals(pullMicros)) "
                + "check_us_per_msg=\(Self.twoDecimals(checkMicros)) "
                + "check_share_of_pull=\(Int((checkMicros / pullMicros * 100).rounded()))%")
    }

    static func twoDecimals(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func makeRoot() throws -> String {
        var template = Array("\(dir)/store-bench-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw ValidationError("cannot create a directory under \(dir)")
        }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove(_ root: String) { _ = system("rm -rf '\(root)'") }

    func makeStore(root: String, flush: FlushDiskType, logger: Logger) throws -> MessageStore {
        let config = try BrokerConfig(properties: [
            "brokerName": "bench", "storePathRootDir": root, "flushDiskType": flush.rawValue,
            "mappedFileSizeCommitLog": String(1 << 30),
        ])
        let store = MessageStore(config: config.storeConfig, logger: logger) { _ in }
        try store.start()
        return store
    }

    func message(_ index: Int) -> MessageExt {
        var message = MessageExt()
        message.topic = "BenchTopic"
        message.queueId = Int32(index % 8)
        message.body = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: size)
        message.properties = [MessageConst.tags: "TagA", MessageConst.keys: "key\(index)"]
        message.storeTimestamp = currentTimeMillis()
        return message
    }

    func append(store: MessageStore, messages: Int, concurrency: Int) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<concurrency {
                group.addTask {
                    var index = sender
                    while index < messages {
                        let result = await store.putMessages([message(index)])
                        guard result.status == .putOK else { throw ValidationError("put failed: \(result.status)") }
                        index += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        return seconds(clock.now - start)
    }

    func report(_ mode: String, concurrency: Int, messages: Int, seconds: Double) {
        let rate = Double(messages) / seconds
        print(
            "store-bench: \(mode) senders=\(concurrency) messages=\(messages) size=\(size) msgs_per_s=\(Int(rate)) "
                + "mb_per_s=\(Int(rate * Double(size) / 1_048_576))")
    }

    func measureRecovery(logger: Logger) async throws {
        let root = try makeRoot()
        defer { remove(root) }
        let store = try makeStore(root: root, flush: .asyncFlush, logger: logger)
        let messages = recoveryBytes / (size + 150)
        _ = try await append(store: store, messages: messages, concurrency: senders)
        let written = store.commitLogMaxOffset
        store.shutdown()
        let clock = ContinuousClock()
        var start = clock.now
        let clean = try makeStore(root: root, flush: .asyncFlush, logger: logger)
        print("store-bench: clean restart of \(written) CommitLog bytes took \(clock.now - start)")
        _ = clean
        // As after a crash with no usable checkpoint: the abort marker present, the checkpoint gone.
        unlink(root + "/checkpoint")
        start = clock.now
        let recovered = try makeStore(root: root, flush: .asyncFlush, logger: logger)
        print(
            "store-bench: crash recovery (full scan) of \(written) CommitLog bytes took \(clock.now - start), "
                + "valid through \(recovered.commitLogMaxOffset)")
    }
}
