import Remoting
import Synchronization

/// A connected client of a group (`ClientChannelInfo`).
public struct ClientChannelInfo: Sendable {
    public var connection: RemotingConnection
    public var clientId: String
    public var language: String
    public var version: Int32
    public var lastUpdateMillis: Int64
}

/// A consumer group's live members and subscriptions (`ConsumerGroupInfo`).
public struct ConsumerGroupInfo: Sendable {
    public var groupName: String
    public var clients: [String: ClientChannelInfo] = [:]
    public var subscriptions: [String: SubscriptionData] = [:]
    public var consumeType: ConsumeType = .consumePassively
    public var messageModel: MessageModel = .clustering
    public var consumeFromWhere = "CONSUME_FROM_LAST_OFFSET"
}

/// Consumer groups by name, from heartbeats (`ConsumerManager`). Membership changes are returned
/// so the caller can send NOTIFY_CONSUMER_IDS_CHANGED.
public final class ConsumerManager: Sendable {
    let groups = Mutex<[String: ConsumerGroupInfo]>([:])

    public init() {}

    /// Registers or refreshes a consumer; true if the group's client set changed.
    public func register(_ data: ConsumerData, client: ClientChannelInfo) -> Bool {
        groups.withLock { groups in
            var info = groups[data.groupName] ?? ConsumerGroupInfo(groupName: data.groupName)
            let isNew =
                info.clients[client.clientId] == nil
                || info.clients[client.clientId]!.connection.id != client.connection.id
            info.clients[client.clientId] = client
            info.consumeType = data.consumeType
            info.messageModel = data.messageModel
            info.consumeFromWhere = data.consumeFromWhere
            for subscription in data.subscriptions {
                if let old = info.subscriptions[subscription.topic], old.subVersion > subscription.subVersion,
                    old.subString == subscription.subString
                {
                    continue
                }
                info.subscriptions[subscription.topic] = subscription
            }
            groups[data.groupName] = info
            return isNew
        }
    }

    /// Removes a client from a group; true if it was there.
    public func unregister(group: String, clientId: String) -> Bool {
        groups.withLock { groups in
            guard var info = groups[group], info.clients.removeValue(forKey: clientId) != nil else { return false }
            groups[group] = info.clients.isEmpty ? nil : info
            return true
        }
    }

    /// A connection closed: removes its clients; returns the groups that changed.
    public func connectionClosed(_ connection: RemotingConnection) -> [String] {
        removeClients { $0.connection.id == connection.id }
    }

    /// Removes clients silent for longer than `timeoutMillis`; returns the groups that changed.
    public func scanNotActive(now: Int64, timeoutMillis: Int64) -> [String] {
        removeClients { now - $0.lastUpdateMillis > timeoutMillis }
    }

    private func removeClients(where predicate: (ClientChannelInfo) -> Bool) -> [String] {
        groups.withLock { groups in
            var changed: [String] = []
            for (name, var info) in groups {
                let before = info.clients.count
                info.clients = info.clients.filter { !predicate($0.value) }
                guard info.clients.count != before else { continue }
                changed.append(name)
                groups[name] = info.clients.isEmpty ? nil : info
            }
            return changed.sorted()
        }
    }

    public func group(_ name: String) -> ConsumerGroupInfo? { groups.withLock { $0[name] } }

    public var allGroups: [String: ConsumerGroupInfo] { groups.withLock { $0 } }
}

/// Producer groups and their connections (`ProducerManager`): who to ask about transactions.
public final class ProducerManager: Sendable {
    let groups = Mutex<[String: [String: ClientChannelInfo]]>([:])

    public init() {}

    public func register(group: String, client: ClientChannelInfo) {
        groups.withLock { $0[group, default: [:]][client.clientId] = client }
    }

    public func unregister(group: String, clientId: String) {
        groups.withLock { groups in
            groups[group]?[clientId] = nil
            if groups[group]?.isEmpty == true { groups[group] = nil }
        }
    }

    public func connectionClosed(_ connection: RemotingConnection) {
        removeClients { $0.connection.id == connection.id }
    }

    public func scanNotActive(now: Int64, timeoutMillis: Int64) {
        removeClients { now - $0.lastUpdateMillis > timeoutMillis }
    }

    private func removeClients(where predicate: (ClientChannelInfo) -> Bool) {
        groups.withLock { groups in
            for (name, clients) in groups {
                let kept = clients.filter { !predicate($0.value) }
                groups[name] = kept.isEmpty ? nil : kept
            }
        }
    }

    public func clients(of group: String) -> [ClientChannelInfo] {
        groups.withLock { Array(($0[group] ?? [:]).values) }
    }
}
