import Remoting

/// A live broker as the NameServer sees it (`BrokerLiveInfo`).
public struct BrokerLiveInfo: Sendable, Equatable {
    public var lastUpdateMillis: Int64
    public var dataVersion: DataVersion
    public var haServerAddr: String
    /// The connection the broker registered over; its close removes the broker at once.
    public var connectionID: UInt64?
}

public struct RegisterBrokerResult: Sendable, Equatable {
    public var masterAddr: String?
    public var haServerAddr: String?
    /// Why a master claim was refused (a lower Raft term than the master's), or nil.
    public var refused: String?
}

public struct RegisterBrokerRequest: Sendable {
    public var clusterName: String
    public var brokerAddr: String
    public var brokerName: String
    public var brokerId: Int64
    public var haServerAddr: String
    public var body: RegisterBrokerBody?
    public var connectionID: UInt64?
    /// The Raft term of a DLedger broker's claim; 0 for fixed roles.
    public var term: UInt64

    public init(
        clusterName: String, brokerAddr: String, brokerName: String, brokerId: Int64, haServerAddr: String,
        body: RegisterBrokerBody?, connectionID: UInt64? = nil, term: UInt64 = 0
    ) {
        self.term = term
        self.clusterName = clusterName
        self.brokerAddr = brokerAddr
        self.brokerName = brokerName
        self.brokerId = brokerId
        self.haServerAddr = haServerAddr
        self.body = body
        self.connectionID = connectionID
    }
}

/// The NameServer's routing tables (`RouteInfoManager`): a pure value; time comes in as `now`.
public struct RouteInfoManager: Sendable {
    public private(set) var clusterAddrTable: [String: Set<String>] = [:]
    public private(set) var brokerAddrTable: [String: BrokerData] = [:]
    /// topic → brokerName → QueueData
    public private(set) var topicQueueTable: [String: [String: QueueData]] = [:]
    /// brokerAddr → liveness
    public private(set) var brokerLiveTable: [String: BrokerLiveInfo] = [:]
    /// brokerName → the highest Raft term a master claim carried. A claim of a lower term from
    /// another address is refused, so a stale or restarting DLedger node cannot overwrite the
    /// real master's route (apache/rocketmq#1464).
    public private(set) var masterTermTable: [String: UInt64] = [:]

    public init() {}

    public mutating func registerBroker(_ request: RegisterBrokerRequest, now: Int64) -> RegisterBrokerResult {
        if request.brokerId == 0, let known = masterTermTable[request.brokerName], request.term < known,
            let master = brokerAddrTable[request.brokerName]?.brokerAddrs[0], master != request.brokerAddr,
            brokerLiveTable[master] != nil
        {
            return RegisterBrokerResult(
                refused:
                    "master claim of \(request.brokerAddr) for \(request.brokerName) at term \(request.term) is older than \(master)'s term \(known)"
            )
        }
        if request.brokerId == 0 {
            masterTermTable[request.brokerName] = max(masterTermTable[request.brokerName] ?? 0, request.term)
        }
        clusterAddrTable[request.clusterName, default: []].insert(request.brokerName)
        var registerFirst = false
        var brokerData =
            brokerAddrTable[request.brokerName]
            ?? {
                registerFirst = true
                return BrokerData(cluster: request.clusterName, brokerName: request.brokerName, brokerAddrs: [:])
            }()
        // One address holds one id: a DLedger peer switching between leader (0) and follower (k)
        // must not stay listed under both.
        for (id, address) in brokerData.brokerAddrs where address == request.brokerAddr && id != request.brokerId {
            brokerData.brokerAddrs[id] = nil
        }
        let previous = brokerData.brokerAddrs.updateValue(request.brokerAddr, forKey: request.brokerId)
        registerFirst = registerFirst || previous == nil
        brokerAddrTable[request.brokerName] = brokerData

        if let body = request.body, request.brokerId == 0 {
            let changed = brokerLiveTable[request.brokerAddr]?.dataVersion != body.dataVersion
            if changed || registerFirst {
                for config in body.topicConfigTable.values {
                    topicQueueTable[config.topicName, default: [:]][request.brokerName] = QueueData(
                        brokerName: request.brokerName, readQueueNums: config.readQueueNums,
                        writeQueueNums: config.writeQueueNums, perm: config.perm, topicSysFlag: config.topicSysFlag)
                }
            }
        }
        brokerLiveTable[request.brokerAddr] = BrokerLiveInfo(
            lastUpdateMillis: now, dataVersion: request.body?.dataVersion ?? DataVersion(timestamp: 0, counter: 0),
            haServerAddr: request.haServerAddr, connectionID: request.connectionID)

        var result = RegisterBrokerResult()
        if request.brokerId != 0, let master = brokerData.brokerAddrs[0], let live = brokerLiveTable[master] {
            result.masterAddr = master
            result.haServerAddr = live.haServerAddr
        }
        return result
    }

    public mutating func unregisterBroker(clusterName: String, brokerAddr: String, brokerName: String, brokerId: Int64)
    {
        brokerLiveTable[brokerAddr] = nil
        guard var brokerData = brokerAddrTable[brokerName] else { return }
        // Every id the address holds goes: a DLedger master that stepped down keeps its master
        // entry until its successor registers, and may stop (unregistering as a slave) before.
        for (id, address) in brokerData.brokerAddrs where address == brokerAddr {
            brokerData.brokerAddrs[id] = nil
        }
        if brokerData.brokerAddrs.isEmpty {
            removeBrokerGroup(brokerName)
        } else {
            brokerAddrTable[brokerName] = brokerData
        }
    }

    /// Java's `DataVersion` check for QUERY_DATA_VERSION: refreshes liveness when unchanged.
    public mutating func isBrokerTopicConfigChanged(brokerAddr: String, dataVersion: DataVersion, now: Int64) -> Bool {
        guard var live = brokerLiveTable[brokerAddr], live.dataVersion == dataVersion else { return true }
        live.lastUpdateMillis = now
        brokerLiveTable[brokerAddr] = live
        return false
    }

    public func topicRoute(_ topic: String) -> TopicRouteData? {
        guard let queues = topicQueueTable[topic], !queues.isEmpty else { return nil }
        let queueDatas = queues.values.sorted { $0.brokerName < $1.brokerName }
        let brokerDatas = queueDatas.compactMap { brokerAddrTable[$0.brokerName] }
        guard !brokerDatas.isEmpty else { return nil }
        return TopicRouteData(queueDatas: queueDatas, brokerDatas: brokerDatas)
    }

    /// Removes brokers not heard from within `expiryMillis`; returns their addresses (to close).
    public mutating func scanNotActiveBrokers(now: Int64, expiryMillis: Int64) -> [String] {
        let expired = brokerLiveTable.filter { now - $0.value.lastUpdateMillis > expiryMillis }.map(\.key).sorted()
        for address in expired { removeBroker(address: address) }
        return expired
    }

    /// A broker's connection closed: forget every broker that registered over it.
    public mutating func connectionClosed(_ connectionID: UInt64) -> [String] {
        let gone = brokerLiveTable.filter { $0.value.connectionID == connectionID }.map(\.key).sorted()
        for address in gone { removeBroker(address: address) }
        return gone
    }

    mutating func removeBroker(address: String) {
        brokerLiveTable[address] = nil
        for (name, var data) in brokerAddrTable {
            let before = data.brokerAddrs.count
            data.brokerAddrs = data.brokerAddrs.filter { $0.value != address }
            guard data.brokerAddrs.count != before else { continue }
            if data.brokerAddrs.isEmpty {
                removeBrokerGroup(name)
            } else {
                brokerAddrTable[name] = data
            }
        }
    }

    /// The whole group is gone: drop it from its cluster and every topic; empty topics vanish.
    mutating func removeBrokerGroup(_ brokerName: String) {
        brokerAddrTable[brokerName] = nil
        for (cluster, var names) in clusterAddrTable where names.contains(brokerName) {
            names.remove(brokerName)
            clusterAddrTable[cluster] = names.isEmpty ? nil : names
        }
        for (topic, var queues) in topicQueueTable where queues[brokerName] != nil {
            queues[brokerName] = nil
            topicQueueTable[topic] = queues.isEmpty ? nil : queues
        }
    }

    public var allTopics: [String] { topicQueueTable.keys.sorted() }

    public func topics(inCluster cluster: String) -> [String] {
        let names = clusterAddrTable[cluster] ?? []
        return topicQueueTable.filter { !Set($0.value.keys).isDisjoint(with: names) }.map(\.key).sorted()
    }

    /// DELETE_TOPIC_IN_NAMESRV: all of it, or only the given cluster's brokers' queues.
    public mutating func deleteTopic(_ topic: String, clusterName: String?) {
        guard let clusterName, let names = clusterAddrTable[clusterName] else {
            topicQueueTable[topic] = nil
            return
        }
        guard var queues = topicQueueTable[topic] else { return }
        for name in names { queues[name] = nil }
        topicQueueTable[topic] = queues.isEmpty ? nil : queues
    }

    /// WIPE/ADD_WRITE_PERM_OF_BROKER: returns the number of topics changed.
    public mutating func setWritePermission(brokerName: String, writable: Bool) -> Int {
        var count = 0
        for (topic, var queues) in topicQueueTable {
            guard var queue = queues[brokerName] else { continue }
            queue.perm = writable ? queue.perm | Permission.write : queue.perm & ~Permission.write
            queues[brokerName] = queue
            topicQueueTable[topic] = queues
            count += 1
        }
        return count
    }

    /// GET_BROKER_CLUSTER_INFO body.
    public var clusterInfoJSON: JSONValue {
        .object([
            "brokerAddrTable": .object(brokerAddrTable.mapValues(\.json)),
            "clusterAddrTable": .object(clusterAddrTable.mapValues { .array($0.sorted().map { .string($0) }) }),
        ])
    }
}
