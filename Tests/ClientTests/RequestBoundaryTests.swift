import Common
import Logging
import Remoting
import Testing

/// Every request code the broker and the NameServer implement, with every numeric header field
/// set to boundary values over a real socket: each gets an error naming the field or a sensible
/// answer, and the servers (in this process: a trap fails the whole run) keep serving.
@Suite(.serialized)
struct RequestBoundaryTests {
    enum Width { case int32, int64 }
    struct NumericField {
        var name: String
        var width: Width
        /// Absent or empty means "use the default" rather than an error.
        var optional = false
    }
    struct RequestShape {
        var code: Int32
        var toNameServer = false
        var fields: [String: String]
        var numeric: [NumericField]
        var body: [UInt8]? = nil
    }

    static let topic = "BoundaryTopic"
    static let now = String(currentTimeMillis())

    static func int32(_ name: String, optional: Bool = false) -> NumericField {
        NumericField(name: name, width: .int32, optional: optional)
    }
    static func int64(_ name: String, optional: Bool = false) -> NumericField {
        NumericField(name: name, width: .int64, optional: optional)
    }

    /// The requests with numeric header fields, each with otherwise valid fields; the codes
    /// without numeric fields are sent with `plainFields`.
    static let shapes: [RequestShape] = [
        RequestShape(
            code: RequestCode.sendMessage,
            fields: [
                "producerGroup": "PG_bound", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
                "queueId": "0", "sysFlag": "0", "bornTimestamp": now, "flag": "0", "properties": "",
                "reconsumeTimes": "0", "maxReconsumeTimes": "16",
            ],
            numeric: [
                int32("defaultTopicQueueNums"), int32("queueId"), int32("sysFlag"), int64("bornTimestamp"),
                int32("flag"), int32("reconsumeTimes", optional: true), int32("maxReconsumeTimes", optional: true),
            ], body: Array("boundary".utf8)),
        RequestShape(
            code: RequestCode.sendMessageV2,
            fields: [
                "a": "PG_bound", "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": now, "h": "0",
                "i": "", "j": "0", "l": "16",
            ],
            numeric: [
                int32("d"), int32("e"), int32("f"), int64("g"), int32("h"), int32("j", optional: true),
                int32("l", optional: true),
            ], body: Array("boundary".utf8)),
        RequestShape(
            code: RequestCode.sendBatchMessage,
            fields: [
                "a": "PG_bound", "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": now, "h": "0",
                "i": "", "j": "0",
            ],
            numeric: [int32("d"), int32("e"), int32("f"), int64("g"), int32("h"), int32("j", optional: true)],
            body: Array("not a batch".utf8)),
        RequestShape(
            code: RequestCode.pullMessage,
            fields: [
                "consumerGroup": "CG_bound", "topic": topic, "queueId": "0", "queueOffset": "0", "maxMsgNums": "32",
                "sysFlag": String(PullSysFlag.subscription | PullSysFlag.suspend), "commitOffset": "0",
                "suspendTimeoutMillis": "1000", "subscription": "*", "subVersion": "0",
            ],
            numeric: [
                int32("queueId"), int64("queueOffset"), int32("maxMsgNums"), int32("sysFlag"),
                int64("commitOffset", optional: true), int64("suspendTimeoutMillis", optional: true),
            ]),
        RequestShape(
            code: RequestCode.consumerSendMsgBack,
            fields: ["offset": "0", "group": "CG_bound", "delayLevel": "0", "maxReconsumeTimes": "16"],
            numeric: [int64("offset"), int32("delayLevel"), int32("maxReconsumeTimes", optional: true)]),
        RequestShape(
            code: RequestCode.endTransaction,
            fields: [
                "producerGroup": "PG_bound", "tranStateTableOffset": "0", "commitLogOffset": "0",
                "commitOrRollback": "8",
            ],
            numeric: [int64("tranStateTableOffset"), int64("commitLogOffset"), int32("commitOrRollback")]),
        RequestShape(
            code: RequestCode.queryConsumerOffset,
            fields: ["consumerGroup": "CG_bound", "topic": topic, "queueId": "0"], numeric: [int32("queueId")]),
        RequestShape(
            code: RequestCode.updateConsumerOffset,
            fields: ["consumerGroup": "CG_bound", "topic": topic, "queueId": "0", "commitOffset": "0"],
            numeric: [int32("queueId"), int64("commitOffset")]),
        RequestShape(
            code: RequestCode.getMaxOffset, fields: ["topic": topic, "queueId": "0"], numeric: [int32("queueId")]),
        RequestShape(
            code: RequestCode.getMinOffset, fields: ["topic": topic, "queueId": "0"], numeric: [int32("queueId")]),
        RequestShape(
            code: RequestCode.getEarliestMsgStoretime, fields: ["topic": topic, "queueId": "0"],
            numeric: [int32("queueId")]),
        RequestShape(
            code: RequestCode.searchOffsetByTimestamp, fields: ["topic": topic, "queueId": "0", "timestamp": now],
            numeric: [int32("queueId"), int64("timestamp")]),
        RequestShape(
            code: RequestCode.updateAndCreateTopic,
            fields: [
                "topic": "BoundaryCreated", "readQueueNums": "4", "writeQueueNums": "4", "perm": "6",
                "topicSysFlag": "0", "topicFilterType": "SINGLE_TAG",
            ],
            numeric: [
                int32("readQueueNums"), int32("writeQueueNums"), int32("perm"), int32("topicSysFlag", optional: true),
            ]),
        RequestShape(
            code: RequestCode.invokeBrokerToResetOffset,
            fields: ["topic": topic, "group": "CG_bound", "timestamp": now, "isForce": "true"],
            numeric: [int64("timestamp")]),
        RequestShape(code: RequestCode.viewMessageById, fields: ["offset": "0"], numeric: [int64("offset")]),
        RequestShape(
            code: RequestCode.queryMessage,
            fields: ["topic": topic, "key": "k", "maxNum": "32", "beginTimestamp": "0", "endTimestamp": now],
            numeric: [int32("maxNum"), int64("beginTimestamp"), int64("endTimestamp")]),
        RequestShape(
            code: RequestCode.registerBroker, toNameServer: true,
            fields: [
                "clusterName": "BoundaryCluster", "brokerAddr": "127.0.0.1:1", "brokerName": "boundary-b",
                "brokerId": "0", "haServerAddr": "", "bodyCrc32": "0",
            ],
            numeric: [int64("brokerId"), int32("bodyCrc32", optional: true)]),
        RequestShape(
            code: RequestCode.unregisterBroker, toNameServer: true,
            fields: [
                "clusterName": "BoundaryCluster", "brokerAddr": "127.0.0.1:1", "brokerName": "boundary-b",
                "brokerId": "0",
            ],
            numeric: [int64("brokerId")]),
    ]

    /// Values for the codes that have no numeric header field: enough for them to do their work.
    static let plainFields: [String: String] = [
        "topic": topic, "consumerGroup": "CG_bound", "group": "CG_bound", "producerGroup": "PG_bound",
        "clientID": "boundary-client", "cluster": "DefaultCluster", "brokerName": "boundary-b",
        "brokerAddr": "127.0.0.1:1", "namespace": "BOUNDARY", "key": "k", "value": "v",
    ]

    static let boundaryValues = ["-1", "0", "2147483648", "9223372036854775807", "9223372036854775808", "abc", ""]

    /// Whether `value` must be refused for `field`, or may get any answer.
    static func mustRefuse(_ value: String, for field: NumericField) -> Bool {
        switch value {
        case "": !field.optional
        case "abc", "9223372036854775808": true
        case "2147483648", "9223372036854775807": field.width == .int32
        default: false
        }
    }

    @Test func everyImplementedCodeIsCovered() async throws {
        let cluster = try await LocalCluster()
        let client = RemotingClient(logger: LocalCluster.logger)
        let broker = cluster.brokers[0].config.brokerAddr
        for (address, toNameServer) in [(broker, false), (cluster.namesrvAddr, true)] {
            var implemented: [Int32] = []
            for code in Int32(0)..<1_000 {
                let response = try await client.invoke(
                    address, RemotingCommand.request(code: code), timeoutMillis: 10_000)
                if response.code != ResponseCode.requestCodeNotSupported { implemented.append(code) }
            }
            let covered = Set(Self.shapes.filter { $0.toNameServer == toNameServer }.map(\.code))
            let withoutNumbers = Set(implemented).subtracting(covered)
            #expect(implemented.count > (toNameServer ? 10 : 25), "codes found: \(implemented)")
            // The codes without a shape must read no number from their header: with the plain
            // fields and any number-looking field set to "abc", none may complain about a number.
            for code in withoutNumbers.sorted() {
                var fields = Self.plainFields
                for key in ["queueId", "offset", "timestamp", "brokerId", "maxNum"] { fields[key] = "abc" }
                let response = try await client.invoke(
                    address, RemotingCommand.request(code: code, fields: fields), timeoutMillis: 10_000)
                #expect(
                    !(response.remark ?? "").contains("is not a number"),
                    "code \(code) reads a numeric field but has no boundary shape: \(response.remark ?? "")")
            }
        }
        await client.shutdown()
        await cluster.shutdown()
    }

    @Test func everyNumericFieldRefusesOutOfRangeValuesByName() async throws {
        let cluster = try await LocalCluster()
        let client = RemotingClient(logger: LocalCluster.logger)
        let broker = cluster.brokers[0].config.brokerAddr
        let seed = Self.shapes[0]
        let stored = try await client.invoke(
            broker, RemotingCommand.request(code: seed.code, fields: seed.fields, body: seed.body),
            timeoutMillis: 10_000)
        #expect(stored.code == ResponseCode.success, "seed message: \(stored.remark ?? "")")
        var checked = 0
        for shape in Self.shapes {
            let address = shape.toNameServer ? cluster.namesrvAddr : broker
            for field in shape.numeric {
                for value in Self.boundaryValues {
                    var fields = shape.fields
                    fields[field.name] = value
                    let response = try await client.invoke(
                        address, RemotingCommand.request(code: shape.code, fields: fields, body: shape.body),
                        timeoutMillis: 10_000)
                    let remark = response.remark ?? ""
                    if Self.mustRefuse(value, for: field) {
                        #expect(
                            response.code != ResponseCode.success && remark.contains("<\(field.name)>"),
                            "code \(shape.code) \(field.name)=\"\(value)\": \(response.code) \(remark)")
                    }
                    checked += 1
                }
            }
            // Still serving after each code's values.
            let health = try await client.invoke(
                broker, RemotingCommand.request(code: seed.code, fields: seed.fields, body: seed.body),
                timeoutMillis: 10_000)
            #expect(health.code == ResponseCode.success, "after code \(shape.code): \(health.remark ?? "")")
        }
        #expect(checked == Self.shapes.map(\.numeric.count).reduce(0, +) * Self.boundaryValues.count)
        await client.shutdown()
        await cluster.shutdown()
    }

    @Test func aRegistrationsTopicsWithInvalidNamesStayOutOfRoutes() async throws {
        let cluster = try await LocalCluster()
        let client = RemotingClient(logger: LocalCluster.logger)
        let table: [String: TopicConfig] = [
            "GoodTopic": TopicConfig(topicName: "GoodTopic", readQueueNums: 4, writeQueueNums: 4, perm: 6),
            "../bad": TopicConfig(topicName: "../bad", readQueueNums: 4, writeQueueNums: 4, perm: 6),
        ]
        let body = RegisterBrokerBody(
            dataVersion: DataVersion(timestamp: 1, counter: 1), topicConfigTable: table)
        let register = RemotingCommand.request(
            code: RequestCode.registerBroker,
            fields: [
                "clusterName": "BoundaryCluster", "brokerAddr": "127.0.0.1:1", "brokerName": "boundary-b",
                "brokerId": "0", "haServerAddr": "",
            ], body: body.json.serializedBytes())
        let registered = try await client.invoke(cluster.namesrvAddr, register, timeoutMillis: 10_000)
        #expect(registered.code == ResponseCode.success)
        for (topic, expected) in [("GoodTopic", ResponseCode.success), ("../bad", ResponseCode.topicNotExist)] {
            let route = try await client.invoke(
                cluster.namesrvAddr,
                RemotingCommand.request(code: RequestCode.getRouteInfoByTopic, fields: ["topic": topic]),
                timeoutMillis: 10_000)
            #expect(route.code == expected, "\(topic): \(route.remark ?? "")")
        }
        await client.shutdown()
        await cluster.shutdown()
    }
}
