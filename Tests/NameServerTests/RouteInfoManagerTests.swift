import Remoting
import Testing

@testable import NameServer

struct RouteInfoManagerTests {
    static func body(_ topics: [String], counter: Int64 = 1) -> RegisterBrokerBody {
        RegisterBrokerBody(
            dataVersion: DataVersion(timestamp: 1, counter: counter),
            topicConfigTable: Dictionary(
                uniqueKeysWithValues: topics.map {
                    ($0, TopicConfig(topicName: $0, readQueueNums: 4, writeQueueNums: 4))
                }))
    }

    static func register(
        _ routes: inout RouteInfoManager, name: String = "broker-a", id: Int64 = 0, address: String = "127.0.0.1:10911",
        topics: [String] = ["TopicTest"], now: Int64, connection: UInt64? = nil, term: UInt64 = 0
    ) -> RegisterBrokerResult {
        routes.registerBroker(
            RegisterBrokerRequest(
                clusterName: "DefaultCluster", brokerAddr: address, brokerName: name, brokerId: id,
                haServerAddr: address.replacingOccurrences(of: "10911", with: "10912"), body: body(topics),
                connectionID: connection, term: term),
            now: now)
    }

    @Test func aMasterClaimOfAnOlderTermDoesNotOverwriteTheMaster() throws {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, address: "127.0.0.1:30911", now: 0, term: 5)
        let stale = Self.register(&routes, address: "127.0.0.1:30921", now: 1, term: 4)
        #expect(stale.refused != nil)
        #expect(routes.brokerAddrTable["broker-a"]?.brokerAddrs == [0: "127.0.0.1:30911"])
        // The stale node registers as a follower instead: accepted.
        #expect(Self.register(&routes, id: 2, address: "127.0.0.1:30921", now: 2, term: 4).refused == nil)
        // A newer term takes over the master slot.
        #expect(Self.register(&routes, address: "127.0.0.1:30921", now: 3, term: 6).refused == nil)
        #expect(routes.brokerAddrTable["broker-a"]?.brokerAddrs == [0: "127.0.0.1:30921"])
    }

    @Test func registeredMasterIsRoutedWithItsQueues() throws {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, now: 0)
        let route = try #require(routes.topicRoute("TopicTest"))
        #expect(
            route.brokerDatas == [
                BrokerData(cluster: "DefaultCluster", brokerName: "broker-a", brokerAddrs: [0: "127.0.0.1:10911"])
            ])
        #expect(route.queueDatas.map(\.writeQueueNums) == [4])
        #expect(routes.topicRoute("Unknown") == nil)
        #expect(routes.allTopics == ["TopicTest"])
    }

    @Test func onlyMasterRegistrationsDefineQueues() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, id: 1, address: "127.0.0.1:10921", topics: ["SlaveOnly"], now: 0)
        #expect(routes.topicRoute("SlaveOnly") == nil)
    }

    @Test func slaveLearnsTheLiveMaster() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, now: 0)
        let result = Self.register(&routes, id: 1, address: "127.0.0.1:10921", now: 0)
        #expect(result.masterAddr == "127.0.0.1:10911")
        #expect(result.haServerAddr == "127.0.0.1:10912")
    }

    @Test func oneAddressHoldsOneIdWhenALeaderBecomesFollower() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, id: 0, now: 0)
        _ = Self.register(&routes, id: 2, now: 1)
        #expect(routes.brokerAddrTable["broker-a"]?.brokerAddrs == [2: "127.0.0.1:10911"])
    }

    @Test func brokersExpireAfterTheTimeoutWithAnInjectedClock() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, now: 1_000)
        _ = Self.register(
            &routes, name: "broker-b", address: "127.0.0.1:20911", topics: ["TopicTest", "OnlyB"], now: 100_000)
        #expect(routes.scanNotActiveBrokers(now: 120_000, expiryMillis: 120_000).isEmpty)
        #expect(routes.scanNotActiveBrokers(now: 121_001, expiryMillis: 120_000) == ["127.0.0.1:10911"])
        #expect(routes.topicRoute("TopicTest")?.brokerDatas.map(\.brokerName) == ["broker-b"])
        #expect(routes.clusterAddrTable["DefaultCluster"] == ["broker-b"])
        #expect(routes.scanNotActiveBrokers(now: 220_001, expiryMillis: 120_000) == ["127.0.0.1:20911"])
        #expect(routes.allTopics.isEmpty && routes.brokerAddrTable.isEmpty && routes.clusterAddrTable.isEmpty)
    }

    @Test func reRegistrationKeepsABrokerAlive() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, now: 0)
        _ = Self.register(&routes, now: 100_000)
        #expect(routes.scanNotActiveBrokers(now: 200_000, expiryMillis: 120_000).isEmpty)
    }

    @Test func closedConnectionRemovesItsBrokerAtOnce() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, now: 0, connection: 7)
        _ = Self.register(&routes, name: "broker-b", address: "127.0.0.1:20911", now: 0, connection: 8)
        #expect(routes.connectionClosed(7) == ["127.0.0.1:10911"])
        #expect(routes.topicRoute("TopicTest")?.brokerDatas.map(\.brokerName) == ["broker-b"])
    }

    @Test func unregisterAndDeleteTopic() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, topics: ["A", "B"], now: 0)
        routes.deleteTopic("A", clusterName: nil)
        #expect(routes.allTopics == ["B"])
        routes.unregisterBroker(
            clusterName: "DefaultCluster", brokerAddr: "127.0.0.1:10911", brokerName: "broker-a", brokerId: 0)
        #expect(routes.topicRoute("B") == nil && routes.brokerLiveTable.isEmpty)
    }

    /// A DLedger master that stepped down but stopped before re-registering as a slave leaves no
    /// master entry behind when it unregisters under its slave id.
    @Test func unregisteringRemovesEveryIdTheAddressHolds() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, id: 0, now: 0, term: 2)
        _ = Self.register(&routes, id: 2, address: "127.0.0.1:20911", now: 0, term: 2)
        routes.unregisterBroker(
            clusterName: "DefaultCluster", brokerAddr: "127.0.0.1:10911", brokerName: "broker-a", brokerId: 1)
        #expect(routes.brokerAddrTable["broker-a"]?.brokerAddrs == [2: "127.0.0.1:20911"])
    }

    @Test func writePermissionCanBeWipedAndRestored() {
        var routes = RouteInfoManager()
        _ = Self.register(&routes, topics: ["A", "B"], now: 0)
        #expect(routes.setWritePermission(brokerName: "broker-a", writable: false) == 2)
        #expect(routes.topicRoute("A")?.queueDatas[0].perm == 4)
        _ = routes.setWritePermission(brokerName: "broker-a", writable: true)
        #expect(routes.topicRoute("A")?.queueDatas[0].perm == 6)
    }

    @Test func compressedRegistrationBodyRoundTrips() throws {
        let body = Self.body(["A", "B"], counter: 9)
        let decoded = try RegisterBrokerBodyCompression.decode(RegisterBrokerBodyCompression.encode(body))
        #expect(decoded.dataVersion == body.dataVersion)
        #expect(decoded.topicConfigTable.keys.sorted() == ["A", "B"])
        #expect(decoded.topicConfigTable["A"]?.readQueueNums == 4)
    }

    @Test func kvConfigRoundTripsThroughJSON() throws {
        var kv = KVConfigManager()
        kv.put(namespace: "ORDER_TOPIC_CONFIG", key: "T", value: "broker-a:4")
        let reloaded = KVConfigManager(json: try JSONValue.parse(kv.json.serialized()))
        #expect(reloaded.value(namespace: "ORDER_TOPIC_CONFIG", key: "T") == "broker-a:4")
        kv.delete(namespace: "ORDER_TOPIC_CONFIG", key: "T")
        #expect(kv.table.isEmpty)
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
