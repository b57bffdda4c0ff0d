import Common
import Logging
import Remoting
import Synchronization

/// Where a consumer group's progress ("next offset to consume" per queue) is kept.
protocol OffsetStore: Sendable {
    /// The offset last recorded in memory.
    func read(_ queue: MessageQueue) -> Int64?
    /// The offset kept by the store (broker or file); nil when there is none.
    func readFromStore(_ queue: MessageQueue) async throws -> Int64?
    func update(_ queue: MessageQueue, _ offset: Int64, increaseOnly: Bool)
    /// Writes the in-memory offsets of `queues` to the store.
    func persist(_ queues: [MessageQueue]) async
    func remove(_ queue: MessageQueue)
}

/// The in-memory table both stores share.
final class OffsetTable: Sendable {
    let table = Mutex<[MessageQueue: Int64]>([:])

    func read(_ queue: MessageQueue) -> Int64? { table.withLock { $0[queue] } }

    func update(_ queue: MessageQueue, _ offset: Int64, increaseOnly: Bool) {
        table.withLock { table in
            if increaseOnly, let current = table[queue], current >= offset { return }
            table[queue] = offset
        }
    }

    func remove(_ queue: MessageQueue) { _ = table.withLock { $0.removeValue(forKey: queue) } }
}

/// Clustering: offsets live on the broker (`RemoteBrokerOffsetStore`).
final class RemoteOffsetStore: OffsetStore {
    let group: String
    let api: MQClientAPI
    let brokerAddress: @Sendable (String) -> String?
    let memory = OffsetTable()
    let logger: Logger

    init(group: String, api: MQClientAPI, logger: Logger, address: @escaping @Sendable (String) -> String?) {
        self.group = group
        self.api = api
        self.logger = logger
        self.brokerAddress = address
    }

    func read(_ queue: MessageQueue) -> Int64? { memory.read(queue) }
    func update(_ queue: MessageQueue, _ offset: Int64, increaseOnly: Bool) {
        memory.update(queue, offset, increaseOnly: increaseOnly)
    }
    func remove(_ queue: MessageQueue) { memory.remove(queue) }

    /// QUERY_CONSUMER_OFFSET with `setZeroIfNotFound=false`: a group without an offset gets
    /// nil, so the consumer's consume-from policy decides where it starts.
    func readFromStore(_ queue: MessageQueue) async throws -> Int64? {
        guard let address = brokerAddress(queue.brokerName) else { throw ClientError.noRoute(topic: queue.topic) }
        let response = try await api.invoke(
            address,
            .request(
                code: RequestCode.queryConsumerOffset,
                fields: [
                    "consumerGroup": group, "topic": queue.topic, "queueId": String(queue.queueId),
                    "setZeroIfNotFound": "false",
                ]))
        switch response.code {
        case ResponseCode.success:
            let offset = Int64(response.extFields["offset"] ?? "") ?? -1
            if offset >= 0 { memory.update(queue, offset, increaseOnly: false) }
            return offset >= 0 ? offset : nil
        case ResponseCode.queryNotFound: return nil
        default: throw ClientError.broker(code: response.code, remark: response.remark ?? "")
        }
    }

    func persist(_ queues: [MessageQueue]) async {
        for queue in queues {
            guard let offset = memory.read(queue), let address = brokerAddress(queue.brokerName) else { continue }
            let request = RemotingCommand.request(
                code: RequestCode.updateConsumerOffset,
                fields: [
                    "consumerGroup": group, "topic": queue.topic, "queueId": String(queue.queueId),
                    "commitOffset": String(offset),
                ])
            do {
                _ = try await api.invokeExpectingSuccess(address, request, timeoutMillis: 3000)
            } catch {
                logger.warning("committing offset \(offset) of \(queue) failed: \(error)")
            }
        }
    }
}

/// Broadcasting: every consumer keeps its own offsets in a local file
/// (`<offsetStoreDir>/<clientId>/<group>/offsets.json`, like RocketMQ's `LocalFileOffsetStore`).
final class LocalFileOffsetStore: OffsetStore {
    let path: String
    let memory = OffsetTable()
    let stored: Mutex<[MessageQueue: Int64]>
    let logger: Logger

    init(directory: String, clientId: String, group: String, logger: Logger) throws {
        let folder = Directories.expandHome(directory) + "/" + clientId + "/" + group
        try Directories.create(folder)
        path = folder + "/offsets.json"
        self.logger = logger
        var loaded: [MessageQueue: Int64] = [:]
        if let text = try AtomicFile.read(path) {
            for entry in try JSONValue.parse(text)["offsetTable"]?.array ?? [] {
                if let queue = MessageQueue(json: entry), let offset = entry["offset"]?.int64 { loaded[queue] = offset }
            }
        }
        stored = Mutex(loaded)
    }

    func read(_ queue: MessageQueue) -> Int64? { memory.read(queue) }
    func update(_ queue: MessageQueue, _ offset: Int64, increaseOnly: Bool) {
        memory.update(queue, offset, increaseOnly: increaseOnly)
    }
    func remove(_ queue: MessageQueue) { memory.remove(queue) }

    func readFromStore(_ queue: MessageQueue) async throws -> Int64? {
        guard let offset = stored.withLock({ $0[queue] }) else { return nil }
        memory.update(queue, offset, increaseOnly: false)
        return offset
    }

    func persist(_ queues: [MessageQueue]) async {
        let snapshot = stored.withLock { stored in
            for queue in queues { if let offset = memory.read(queue) { stored[queue] = offset } }
            return stored
        }
        let entries = snapshot.sorted { $0.key < $1.key }.map { queue, offset -> JSONValue in
            var json = queue.json
            if case .object(var fields) = json {
                fields["offset"] = .int(offset)
                json = .object(fields)
            }
            return json
        }
        do {
            try AtomicFile.write(JSONValue.object(["offsetTable": .array(entries)]).serialized(), to: path)
        } catch {
            logger.error("writing \(path) failed: \(error)")
        }
    }
}
