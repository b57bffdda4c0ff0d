import Remoting
import Synchronization

/// Where a topic can be written (`TopicPublishInfo`): the write queues of every broker group
/// that has a master, sorted by broker name then queue id.
public struct TopicPublishInfo: Sendable, Equatable {
    public var route: TopicRouteData
    public var queues: [MessageQueue]

    public init(topic: String, route: TopicRouteData) {
        self.route = route
        var queues: [MessageQueue] = []
        for queueData in route.queueDatas.sorted(by: { $0.brokerName < $1.brokerName })
        where Permission.isWritable(queueData.perm)
            && route.brokerDatas.contains(where: { $0.brokerName == queueData.brokerName && $0.masterAddress != nil })
        {
            for queueId in 0..<queueData.writeQueueNums {
                queues.append(MessageQueue(topic: topic, brokerName: queueData.brokerName, queueId: queueId))
            }
        }
        self.queues = queues
    }

    public func masterAddress(of brokerName: String) -> String? {
        route.brokerDatas.first { $0.brokerName == brokerName }?.masterAddress
    }

    public var brokerAddresses: [String] { route.brokerDatas.flatMap { Array($0.brokerAddrs.values) } }
}

/// Topic routes a client has read, shared by its parts.
final class RouteTable: Sendable {
    let routes = Mutex<[String: TopicRouteData]>([:])

    /// The master address of a broker group, from any known route.
    func masterAddress(of brokerName: String) -> String? {
        brokerData(of: brokerName)?.masterAddress
    }

    /// Broker `brokerId` of a group, else its master, else a slave: where to pull and commit.
    func address(of brokerName: String, preferring brokerId: Int64 = 0) -> String? {
        brokerData(of: brokerName)?.address(preferring: brokerId)
    }

    private func brokerData(of brokerName: String) -> BrokerData? {
        routes.withLock { routes in
            routes.values.lazy.compactMap { route in route.brokerDatas.first { $0.brokerName == brokerName } }.first
        }
    }
}
