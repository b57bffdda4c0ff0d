import Common
import Logging
import Remoting

@testable import Broker

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh directory under /tmp, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/broker-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func cleanup() {
        _ = system("rm -rf '\(path)'")
    }
}

func storeConfig(_ directory: String, segmentSize: Int = 64 * 1024, entriesPerFile: Int = 10) -> MessageStoreConfig {
    var config = MessageStoreConfig(
        storePathRootDir: directory, storePathCommitLog: directory + "/commitlog", mappedFileSizeCommitLog: segmentSize,
        consumeQueueEntriesPerFile: entriesPerFile, flushDiskType: .asyncFlush, flushIntervalCommitLog: 500,
        flushIntervalConsumeQueue: 1000, delayLevelMillis: [1000, 5000], maxTransferCountOnMessageInMemory: 32,
        maxTransferBytesOnMessageInMemory: 256 * 1024, storeHost: HostAddress("127.0.0.1:10911"))
    config.maxHashSlotNum = 64
    config.maxIndexNum = 50
    return config
}

func makeMessage(_ topic: String, queueId: Int32 = 0, body: String, tag: String? = nil) -> MessageExt {
    var message = MessageExt()
    message.topic = topic
    message.queueId = queueId
    message.body = Array(body.utf8)
    if let tag { message.properties[MessageConst.tags] = tag }
    message.storeTimestamp = 1_000
    return message
}

let testLogger = Logger(label: "test")
