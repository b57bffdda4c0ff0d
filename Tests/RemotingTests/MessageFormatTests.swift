import Common
import NIOCore
import Testing

@testable import Remoting

struct MessageFormatTests {
    @Test(arguments: [
        ("TagA", Int64(2_598_919)), ("TagB", 2_598_920), ("*", 42), ("polygenelubricants", -2_147_483_648),
        ("中文标签", 622_041_809), ("", 0), ("Tag中", 2_618_867), ("😀", 1_772_899),
    ])
    func tagHashIsJavaStringHashCode(tag: String, expected: Int64) {
        #expect(TagHash.code(tag) == expected)
    }

    @Test func subscriptionExpressionParsesTagsAndMatchesByHash() {
        let expression = SubscriptionExpression("TagA || TagB ")
        #expect(expression.tags == ["TagA", "TagB"])
        #expect(expression.matches(tagsCode: 2_598_919) && !expression.matches(tagsCode: TagHash.code("TagC")))
        #expect(SubscriptionExpression("*").matchesAll && SubscriptionExpression("").matchesAll)
    }

    @Test func propertiesAcceptTrailingSeparatorAndJunkSegments() {
        let cpp = "KEYS\u{1}key1 key2\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}"
        #expect(MessageProperties.decode(cpp) == ["KEYS": "key1 key2", "TAGS": "TagA", "WAIT": "true"])
        #expect(MessageProperties.decode("A\u{1}1\u{2}\u{2}junk\u{2}B\u{1}2") == ["A": "1", "B": "2"])
        let encoded = MessageProperties.encode(["B": "2", "A": "1"])
        #expect(["A\u{1}1\u{2}B\u{1}2", "B\u{1}2\u{2}A\u{1}1"].contains(encoded))
        #expect(MessageProperties.encode([:]).isEmpty && MessageProperties.encode(["K": ""]) == "K\u{1}")
        let mixed = ["话题": "ключ 🔑", "TAGS": "TagA", "EMPTY": ""]
        #expect(MessageProperties.decode(MessageProperties.encode(mixed)) == mixed)
    }

    @Test func offsetMessageIdMatchesRocketMQ() {
        let id = MessageID.offsetMessageId(storeHost: HostAddress("127.0.0.1:20911"), offset: 898)
        #expect(id == "7F000001000051AF0000000000000382")
        let decoded = MessageID.decodeOffsetMessageId(id)
        #expect(decoded?.0 == HostAddress("127.0.0.1:20911") && decoded?.1 == 898)
    }

    /// The record checksum reuses the body's (crc32_combine): it equals one pass over the bytes,
    /// for empty, small and large bodies.
    @Test func recordChecksumOfCombinedPartsEqualsOnePass() {
        for size in [0, 1, 5, 1024, 70_000] {
            var message = MessageExt()
            message.topic = "T"
            message.body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            message.properties = ["TAGS": "A"]
            let bytes = StoredMessageCodec.encode(message)
            #expect(StoredMessageCodec.hasValidRecordCRC(ByteBuffer(bytes: bytes)), "body of \(size) bytes")
        }
        let data: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let combined = CRC32.combine(
            CRC32.checksum(data[..<1234]), CRC32.checksum(data[1234...]), secondLength: data.count - 1234)
        #expect(combined == CRC32.checksum(data))
    }

    @Test func storedMessageRoundTripsWithExactLength() throws {
        var message = MessageExt()
        message.topic = "TopicTest"
        message.queueId = 3
        message.queueOffset = 7
        message.commitLogOffset = 4096
        message.body = Array("hello".utf8)
        message.properties = ["TAGS": "TagA", "KEYS": "k1"]
        message.bornHost = HostAddress("10.0.0.1:5555")
        message.storeHost = HostAddress("127.0.0.1:10911")
        message.bornTimestamp = 1_700_000_000_000
        message.storeTimestamp = 1_700_000_000_123
        let bytes = StoredMessageCodec.encode(message)
        // Properties: the message's, then "\u{2}__CRC32#\u{1}" and ten digits.
        let properties = MessageProperties.encode(message.properties).utf8.count + 1 + 9 + 10
        #expect(bytes.count == 91 + 5 + 9 + properties)
        #expect(StoredMessageCodec.hasValidRecordCRC(ByteBuffer(bytes: bytes)))
        var buffer = ByteBuffer(bytes: bytes)
        var decoded = try StoredMessageCodec.decode(from: &buffer)
        #expect(decoded.storeSize == Int32(bytes.count))
        #expect(decoded.properties[StoredMessageCodec.recordCRCKey]?.count == 10)
        decoded.storeSize = 0
        decoded.bodyCRC = 0
        decoded.properties[StoredMessageCodec.recordCRCKey] = nil
        #expect(decoded == message)
        // Any flipped byte breaks the record checksum.
        for position in stride(from: 0, to: bytes.count - 10, by: 7) {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(!StoredMessageCodec.hasValidRecordCRC(ByteBuffer(bytes: damaged)))
        }
    }

    @Test func truncatedStoredMessageIsAnError() {
        var message = MessageExt()
        message.topic = "T"
        message.body = [1, 2, 3]
        let bytes = StoredMessageCodec.encode(message)
        for cut in [0, 4, 50, bytes.count - 1] {
            var buffer = ByteBuffer(bytes: bytes[0..<cut])
            #expect(throws: MessageDecodeError.self) { try StoredMessageCodec.decode(from: &buffer) }
        }
    }

    @Test func batchBodyRoundTrips() throws {
        let batch = [
            BatchedMessage(flag: 0, body: Array("one".utf8), properties: ["TAGS": "A", "UNIQ_KEY": "X1"]),
            BatchedMessage(flag: 2, body: [], properties: [:]),
        ]
        let decoded = try BatchedMessage.decodeBatch(ByteBuffer(bytes: BatchedMessage.encodeBatch(batch)))
        #expect(decoded == batch)
        var corrupt = BatchedMessage.encodeBatch(batch)
        corrupt[3] = 200
        #expect(throws: MessageDecodeError.self) { try BatchedMessage.decodeBatch(ByteBuffer(bytes: corrupt)) }
    }
}

struct JSONTests {
    @Test func fastjsonRouteWithUnquotedKeysParses() throws {
        let text =
            #"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}]}"#
        let route = try #require(TopicRouteData(json: try JSONValue.parse(text)))
        #expect(route.brokerDatas[0].brokerAddrs == [0: "127.0.0.1:10911", 1: "127.0.0.1:10921"])
        #expect(route.queueDatas[0].writeQueueNums == 4 && route.queueDatas[0].perm == 6)
    }

    @Test func routeJSONUsesQuotedBrokerIdsAndRoundTrips() throws {
        let route = TopicRouteData(
            queueDatas: [QueueData(brokerName: "b", readQueueNums: 4, writeQueueNums: 4, perm: 6)],
            brokerDatas: [BrokerData(cluster: "C", brokerName: "b", brokerAddrs: [0: "127.0.0.1:1"])])
        let text = route.json.serialized()
        #expect(text.contains(#""brokerAddrs":{"0":"127.0.0.1:1"}"#))
        #expect(TopicRouteData(json: try JSONValue.parse(text)) == route)
    }

    @Test func stringsEscapeControlCharactersAndKeepUnicode() throws {
        let value = JSONValue.object(["p": .string("A\u{1}B\u{2}\"\\\n中")])
        let text = value.serialized()
        #expect(text == #"{"p":"A\u0001B\u0002\"\\\n中"}"#)
        #expect(try JSONValue.parse(text) == value)
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func numbersKeepTheirTextAndInvalidDocumentsThrow() throws {
        #expect(try JSONValue.parse("[4, -17, 1.5]") == .array([.number("4"), .number("-17"), .number("1.5")]))
        for bad in ["{", "[1,]", "{\"a\" 1}", "\"open", "tru", "{}x", String(repeating: "[", count: 100)] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bad) }
        }
    }

    @Test func heartbeatFromCppClientParses() throws {
        let text =
            #"{"clientID":"26650-127.0.0.1@DEFAULT","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"CG","messageModel":1,"subscriptionDataSet":[{"codeSet":[0,0],"subString":"TagA || TagC","subVersion":"1795302457930","tagsSet":["TagA","TagC"],"topic":"TopicTest"}]}],"producerDataSet":[{"groupName":"PG"}]}"#
            + "\n"
        let heartbeat = try #require(HeartbeatData(json: try JSONValue.parse(text)))
        #expect(heartbeat.producerGroups == ["PG"])
        let consumer = heartbeat.consumers[0]
        #expect(consumer.messageModel == .clustering && consumer.consumeType == .consumePassively)
        #expect(consumer.subscriptions[0].subVersion == 1_795_302_457_930)
        #expect(consumer.subscriptions[0].expression.tags == ["TagA", "TagC"])
    }
}
