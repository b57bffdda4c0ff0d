import Common
import Remoting

/// A slave mirrors the master's metadata (RocketMQ's `SlaveSynchronize`): topics, subscription
/// groups, consumer offsets and delay-level offsets; a DLedger follower every second, a
/// master/slave slave every 3 s. A DLedger follower that becomes master then routes every topic
/// and answers offset queries with what consumers had committed up to a second before the
/// switch; a master/slave slave serves consumers while its master is away. The master is found
/// at the NameServers.
extension BrokerController {
    func mirrorMasterMetadata() async {
        guard store.replicatedLog != nil || config.isClassicSlave, !role.isMaster, let master = await masterAddress()
        else { return }
        do {
            try await handOffsetsToMaster(master)
            let topicsResponse = try await nameServers.client.invoke(
                master, RemotingCommand.request(code: RequestCode.getAllTopicConfig), timeoutMillis: 3000)
            if topicsResponse.code == ResponseCode.success,
                let body = RegisterBrokerBody(json: try JSONValue.parse(topicsResponse.bodyBytes))
            {
                topics.mirror(body.topicConfigTable)
            }
            let groups = try await nameServers.client.invoke(
                master, RemotingCommand.request(code: RequestCode.getAllSubscriptionGroupConfig), timeoutMillis: 3000)
            if groups.code == ResponseCode.success { subscriptionGroups.mirror(try JSONValue.parse(groups.bodyBytes)) }
            let offsets = try await nameServers.client.invoke(
                master, RemotingCommand.request(code: RequestCode.getAllConsumerOffset), timeoutMillis: 3000)
            if offsets.code == ResponseCode.success { consumerOffsets.mirror(try JSONValue.parse(offsets.bodyBytes)) }
            let delays = try await nameServers.client.invoke(
                master, RemotingCommand.request(code: RequestCode.getAllDelayOffset), timeoutMillis: 3000)
            if delays.code == ResponseCode.success { schedule.mirror(try JSONValue.parse(delays.bodyBytes)) }
        } catch {
            logger.debug("mirroring the master's metadata from \(master) failed: \(error)")
        }
    }

    /// A slave gives its master the offsets consumers committed here while it was away, before
    /// mirroring the master's table: what they committed in the meantime is not lost.
    func handOffsetsToMaster(_ master: String) async throws {
        for pending in consumerOffsets.pendingForMaster() {
            let request = RemotingCommand.request(
                code: RequestCode.updateConsumerOffset,
                fields: [
                    "consumerGroup": pending.group, "topic": pending.topic, "queueId": String(pending.queueId),
                    "commitOffset": String(pending.offset),
                ])
            let response = try await nameServers.client.invoke(master, request, timeoutMillis: 3000)
            guard response.code == ResponseCode.success else {
                logger.warning(
                    "the master \(master) refused the offset \(pending.offset) of \(pending.group) on \(pending.topic)-\(pending.queueId): \(response.remark ?? "")"
                )
                continue
            }
            consumerOffsets.handedToMaster(
                group: pending.group, topic: pending.topic, queueId: pending.queueId, offset: pending.offset)
            logger.info(
                "handed the master \(master) the offset \(pending.offset) of \(pending.group) on \(pending.topic)-\(pending.queueId), committed here while it was away"
            )
        }
    }

    /// The master (brokerId 0) of this broker's name, as the NameServers know it.
    func masterAddress() async -> String? {
        for address in config.namesrvAddr {
            do {
                let response = try await nameServers.client.invoke(
                    address, RemotingCommand.request(code: RequestCode.getBrokerClusterInfo), timeoutMillis: 3000)
                guard response.code == ResponseCode.success else { continue }
                let info = try JSONValue.parse(response.bodyBytes)
                if let data = info["brokerAddrTable"]?[config.brokerName].flatMap(BrokerData.init(json:)),
                    let master = data.brokerAddrs[0], master != config.brokerAddr
                {
                    return master
                }
            } catch {
                continue
            }
        }
        return nil
    }
}
