import ArgumentParser
import Client
import Logging
import Remoting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runnable examples of the Swift client (like RocketMQ's `example` module); each prints one
/// JSON line per message so scripts and the end-to-end tests can read what happened.
@main
struct Example: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rocketmq-example", abstract: "Examples of the Swift RocketMQ client.",
        subcommands: [Produce.self, PushConsume.self, LitePull.self, TransactionSend.self, TransactionServe.self])
}

struct Connection: ParsableArguments {
    @Option(name: .customShort("n"), help: "Name server address list.") var namesrvAddr = "127.0.0.1:9876"
    @Option(name: .customShort("t"), help: "Topic.") var topic = "TopicTest"
    @Option(name: .customShort("g"), help: "Producer or consumer group.") var group = "example_group"

    var logger: Logger {
        var logger = Logger(label: "rocketmq-example")
        logger.logLevel = .warning
        return logger
    }
}

/// Writes one JSON object per line, flushed at once.
func emit(_ fields: [String: JSONValue]) {
    let line = JSONValue.object(fields).serialized() + "\n"
    let bytes = Array(line.utf8)
    _ = bytes.withUnsafeBufferPointer { Glibc.write(1, $0.baseAddress, $0.count) }
}

func describe(_ message: MessageExt) -> [String: JSONValue] {
    [
        "topic": .string(message.topic), "body": .string(String(decoding: message.body, as: UTF8.self)),
        "tags": .string(message.tags ?? ""), "keys": .string(message.keys.joined(separator: " ")),
        "msgId": .string(message.uniqueKey ?? message.offsetMessageId), "queueId": .int(message.queueId),
        "queueOffset": .int(message.queueOffset), "reconsumeTimes": .int(message.reconsumeTimes),
    ]
}

struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send messages (sync; orderly with --sharding-key).")
    @OptionGroup var connection: Connection
    @Option(help: "Messages to send.") var count = 10
    @Option(help: "Body prefix; bodies are <prefix><index>.") var prefix = "Hello RocketMQ "
    @Option(help: "Tag of every message.") var tags: String?
    @Option(help: "Pad bodies to this many bytes (large bodies are compressed).") var size = 0
    @Option(help: "Send orderly: the same key always goes to the same queue.") var shardingKey: String?

    func run() async throws {
        let producer = Producer(group: connection.group, namesrvAddr: connection.namesrvAddr, logger: connection.logger)
        await producer.start()
        for index in 0..<count {
            var body = prefix + String(index)
            if body.utf8.count < size { body += String(repeating: "x", count: size - body.utf8.count) }
            let message = Message(topic: connection.topic, body: body, tags: tags, keys: ["key\(index)"])
            let result =
                if let shardingKey {
                    try await producer.send(message, shardingKey: shardingKey)
                } else {
                    try await producer.send(message)
                }
            emit([
                "msgId": .string(result.msgId), "queueId": .int(result.messageQueue.queueId),
                "queueOffset": .int(result.queueOffset), "body": .string(String(body.prefix(64))),
            ])
        }
        await producer.shutdown()
    }
}

struct ConsumeLimits: ParsableArguments {
    @Option(help: "Stop after this many messages.") var count = 10
    @Option(help: "Give up after this many seconds (exit code 1).") var timeout = 60.0
    @Flag(help: "Start a new group at the beginning of the queues.") var fromFirst = false

    var options: ConsumerOptions {
        var options = ConsumerOptions()
        options.consumeFromWhere = fromFirst ? .firstOffset : .lastOffset
        options.pollNameServerIntervalMillis = 1000
        options.rebalanceIntervalMillis = 2000
        return options
    }
}

/// Counts messages and ends the command once `limit` arrived or the time is up.
final class Countdown: Sendable {
    let seen = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func record(_ messages: [MessageExt]) {
        for message in messages { emit(describe(message)) }
        seen.add(messages.count, ordering: .relaxed)
    }

    func wait(seconds: Double) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while seen.load(ordering: .relaxed) < limit {
            guard ContinuousClock.now < deadline else { throw ExitCode(1) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

struct PushConsume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Consume with a push consumer.")
    @OptionGroup var connection: Connection
    @OptionGroup var limits: ConsumeLimits
    @Option(help: "Tag expression, e.g. 'TagA || TagB'.") var expression = "*"
    @Flag(help: "Orderly listener (queues locked on the broker).") var orderly = false
    @Flag(help: "Broadcasting instead of clustering.") var broadcast = false

    func run() async throws {
        var options = limits.options
        options.messageModel = broadcast ? .broadcasting : .clustering
        let consumer = try PushConsumer(
            group: connection.group, namesrvAddr: connection.namesrvAddr, options: options, logger: connection.logger)
        consumer.subscribe(connection.topic, expression: expression)
        let countdown = Countdown(limit: limits.count)
        if orderly {
            consumer.registerMessageListenerOrderly { messages, _ in
                countdown.record(messages)
                return .success
            }
        } else {
            consumer.registerMessageListener { messages, _ in
                countdown.record(messages)
                return .consumeSuccess
            }
        }
        try await consumer.start()
        defer { Task { await consumer.shutdown() } }
        try await countdown.wait(seconds: limits.timeout)
        await consumer.shutdown()
    }
}

struct LitePull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Consume by polling a lite pull consumer.")
    @OptionGroup var connection: Connection
    @OptionGroup var limits: ConsumeLimits

    func run() async throws {
        let consumer = try LitePullConsumer(
            group: connection.group, namesrvAddr: connection.namesrvAddr, options: limits.options,
            logger: connection.logger)
        consumer.subscribe(connection.topic)
        try await consumer.start()
        let countdown = Countdown(limit: limits.count)
        let deadline = ContinuousClock.now + .seconds(limits.timeout)
        while countdown.seen.load(ordering: .relaxed) < limits.count, ContinuousClock.now < deadline {
            countdown.record(await consumer.poll(timeout: .seconds(1)))
        }
        await consumer.shutdown()
        if countdown.seen.load(ordering: .relaxed) < limits.count { throw ExitCode(1) }
    }
}

enum Decision: String, ExpressibleByArgument, CaseIterable {
    case commit, rollback, unknown
    /// Only for the local transaction: the process dies before deciding.
    case die

    var state: LocalTransactionState {
        switch self {
        case .commit: .commitMessage
        case .rollback: .rollbackMessage
        case .unknown, .die: .unknown
        }
    }
}

/// Answers with fixed decisions; `die` kills the process once the half message is stored.
struct FixedTransactions: TransactionListener {
    let local: Decision
    let check: Decision

    func executeLocalTransaction(_ message: Message, sendResult: SendResult) async -> LocalTransactionState {
        emit(["halfMsgId": .string(sendResult.msgId), "local": .string(local.rawValue)])
        if local == .die { kill(getpid(), SIGKILL) }
        return local.state
    }

    func checkLocalTransaction(_ message: MessageExt) async -> LocalTransactionState {
        emit([
            "checked": .string(message.uniqueKey ?? ""), "body": .string(String(decoding: message.body, as: UTF8.self)),
            "answer": .string(check.rawValue),
        ])
        return check.state
    }
}

struct TransactionSend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transaction-send", abstract: "Send one transactional message and decide it.")
    @OptionGroup var connection: Connection
    @Option(help: "Body.") var body = "transactional"
    @Option(help: "Local transaction outcome: commit, rollback, unknown or die.") var local = Decision.commit
    @Option(help: "Answer to the broker's checks.") var check = Decision.commit
    @Option(help: "Stay this many seconds to answer checks.") var serve = 0.0

    func run() async throws {
        let producer = TransactionProducer(
            group: connection.group, namesrvAddr: connection.namesrvAddr,
            listener: FixedTransactions(local: local, check: check), logger: connection.logger)
        await producer.start()
        let result = try await producer.sendMessageInTransaction(Message(topic: connection.topic, body: body))
        emit(["msgId": .string(result.sendResult.msgId), "state": .string("\(result.localTransactionState)")])
        if serve > 0 { try await Task.sleep(for: .seconds(serve)) }
        await producer.shutdown()
    }
}

struct TransactionServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transaction-serve", abstract: "Answer a producer group's transaction checks for a while.")
    @OptionGroup var connection: Connection
    @Option(help: "Answer to the broker's checks.") var check = Decision.commit
    @Option(help: "Seconds to stay.") var seconds = 30.0

    func run() async throws {
        let producer = TransactionProducer(
            group: connection.group, namesrvAddr: connection.namesrvAddr,
            listener: FixedTransactions(local: .unknown, check: check), logger: connection.logger)
        await producer.start()
        emit(["serving": .string(connection.group)])
        try await Task.sleep(for: .seconds(seconds))
        await producer.shutdown()
    }
}
