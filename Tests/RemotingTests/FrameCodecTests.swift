import NIOCore
import NIOTestUtils
import Testing

@testable import Remoting

struct FrameCodecTests {
    static func sample(_ type: SerializeType) -> RemotingCommand {
        RemotingCommand(
            code: 10, language: "CPP", version: 63, opaque: 42, flag: 0, remark: "hi",
            extFields: ["topic": "TopicTest", "queueId": "3", "properties": "TAGS\u{1}A\u{2}"],
            body: ByteBuffer(bytes: [1, 2, 3]), serializeType: type)
    }

    @Test(arguments: [SerializeType.json, .rocketmq])
    func frameRoundTripsInBothSerializations(type: SerializeType) throws {
        let original = Self.sample(type)
        var buffer = ByteBuffer(bytes: original.frameBytes())
        let decoded = try #require(try RemotingCommand.parseFrame(from: &buffer, maxFrameLength: 1 << 20))
        #expect(buffer.readableBytes == 0)
        #expect(decoded.code == 10 && decoded.opaque == 42 && decoded.version == 63 && decoded.language == "CPP")
        #expect(decoded.remark == "hi" && decoded.extFields == original.extFields)
        #expect(decoded.bodyBytes == [1, 2, 3] && decoded.serializeType == type)
    }

    @Test func partialFramesConsumeNothing() throws {
        let bytes = Self.sample(.json).frameBytes()
        for cut in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[0..<cut])
            #expect(try RemotingCommand.parseFrame(from: &buffer, maxFrameLength: 1 << 20) == nil)
            #expect(buffer.readableBytes == cut)
        }
    }

    @Test func cppClientHeaderWithNumericExtValuesIsReadAsStrings() throws {
        let header =
            #"{"code":105,"language":"CPP","version":63,"opaque":0,"flag":0,"remark":"","extFields":{"topic":"TopicTest","queueId":3,"AccessKey":""}}"#
            + "\n"
        var frame = ByteBuffer()
        frame.writeInteger(Int32(4 + header.utf8.count))
        frame.writeInteger(Int32(header.utf8.count))
        frame.writeString(header)
        let command = try #require(try RemotingCommand.parseFrame(from: &frame, maxFrameLength: 1 << 20))
        #expect(command.extFields["queueId"] == "3")
        #expect(command.extFields["topic"] == "TopicTest")
    }

    @Test func headerStringsWithEscapesAndUnusualHeadersRoundTrip() throws {
        var command = Self.sample(.json)
        command.extFields = ["k\"ey": "quote \" backslash \\ newline \n tab \t ctrl \u{1F} é 漢", "": ""]
        command.remark = "line1\nline2 \"q\""
        var buffer = ByteBuffer(bytes: command.frameBytes())
        let decoded = try #require(try RemotingCommand.parseFrame(from: &buffer, maxFrameLength: 1 << 20))
        #expect(decoded.extFields == command.extFields && decoded.remark == command.remark)
        // Java's fastjson order, string codes, a null remark, unknown keys and no extFields.
        let header =
            #"{"code":"11","extFields":null,"flag":"1","future":[1,{"x":2}],"language":"JAVA","opaque":-5,"remark":null,"serializeTypeCurrentRPC":"JSON","version":1e2}"#
        var frame = ByteBuffer()
        frame.writeInteger(Int32(4 + header.utf8.count))
        frame.writeInteger(Int32(header.utf8.count))
        frame.writeString(header)
        let lenient = try #require(try RemotingCommand.parseFrame(from: &frame, maxFrameLength: 1 << 20))
        #expect(lenient.code == 11 && lenient.flag == 1 && lenient.opaque == -5 && lenient.version == 100)
        #expect(lenient.remark == nil && lenient.extFields.isEmpty && lenient.isResponse)
        // Odd numbers where integers belong read as 0, as before; a code that is no integer is an error.
        #expect(try Self.decode(#"{"code":12,"version":1.5,"opaque":"x"}"#).version == 0)
        #expect(throws: RemotingDecodeError.self) { try Self.decode(#"{"code":"abc"}"#) }
        #expect(throws: RemotingDecodeError.self) { try Self.decode(#"{"version":1}"#) }
    }

    static func decode(_ header: String) throws -> RemotingCommand {
        var frame = ByteBuffer()
        frame.writeInteger(Int32(4 + header.utf8.count))
        frame.writeInteger(Int32(header.utf8.count))
        frame.writeString(header)
        return try #require(try RemotingCommand.parseFrame(from: &frame, maxFrameLength: 1 << 20))
    }

    @Test func responseHeaderValuesAreJSONStrings() throws {
        let response = Self.sample(.json).response(code: 0, fields: ["queueOffset": "17"])
        var buffer = ByteBuffer(bytes: response.frameBytes())
        buffer.moveReaderIndex(forwardBy: 8)
        let text = buffer.readString(length: buffer.readableBytes)!
        #expect(text.contains(#""queueOffset":"17""#))
        #expect(text.contains(#""flag":1"#) && text.contains(#""opaque":42"#))
    }

    @Test func oversizeAndInconsistentLengthsAreTypedErrors() {
        var big = ByteBuffer()
        big.writeInteger(Int32(17 * 1024 * 1024))
        #expect(throws: RemotingDecodeError.frameTooLarge(length: 17 * 1024 * 1024, limit: 16 * 1024 * 1024)) {
            try RemotingCommand.parseFrame(from: &big, maxFrameLength: 16 * 1024 * 1024)
        }
        var short = ByteBuffer()
        short.writeInteger(Int32(2))
        short.writeBytes([0, 0])
        #expect(throws: RemotingDecodeError.frameTooShort(length: 2)) {
            try RemotingCommand.parseFrame(from: &short, maxFrameLength: 1024)
        }
        var header = ByteBuffer()
        header.writeInteger(Int32(8))
        header.writeInteger(UInt32(100))
        header.writeBytes([0, 0, 0, 0])
        #expect(throws: RemotingDecodeError.headerLengthOutOfRange(headerLength: 100, frameLength: 8)) {
            try RemotingCommand.parseFrame(from: &header, maxFrameLength: 1024)
        }
    }

    /// Seeded random and mutated input never traps: it parses, asks for more without consuming
    /// anything, or throws a decode error; untouched frames parse back to what was sent.
    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 0x5EED)
        let samples = [Self.sample(.json), Self.sample(.rocketmq)]
        let valid = samples[0].frameBytes() + samples[1].frameBytes()
        var (parsed, incomplete, rejected) = (0, 0, 0)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 100 == 1 {
                var buffer = ByteBuffer(bytes: valid)
                for sample in samples {
                    let command = try? RemotingCommand.parseFrame(from: &buffer, maxFrameLength: 4096)
                    #expect(command.map(RemotingCommandEquatable.init) == RemotingCommandEquatable(sample))
                }
                #expect(buffer.readableBytes == 0)
                continue
            }
            if round % 2 == 0 {
                bytes = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = valid
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            var buffer = ByteBuffer(bytes: bytes)
            decoding: while true {
                let before = buffer.readerIndex
                do throws(RemotingDecodeError) {
                    guard try RemotingCommand.parseFrame(from: &buffer, maxFrameLength: 4096) != nil else {
                        #expect(buffer.readerIndex == before, "an incomplete frame consumed bytes")
                        incomplete += 1
                        break decoding
                    }
                    #expect(buffer.readerIndex > before, "a parsed frame consumed nothing")
                    parsed += 1
                } catch {
                    rejected += 1
                    break decoding
                }
            }
        }
        // Every outcome was reached, so the loop exercised the parser rather than one early exit.
        #expect(
            parsed > 0 && incomplete > 0 && rejected > 0,
            "parsed \(parsed), incomplete \(incomplete), rejected \(rejected)")
    }

    @Test func decoderHandlesAnySplitOfTheStream() throws {
        let commands = [Self.sample(.json), Self.sample(.rocketmq)]
        let pairs = commands.map { command -> (ByteBuffer, [RemotingCommandEquatable]) in
            (ByteBuffer(bytes: command.frameBytes()), [RemotingCommandEquatable(command)])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: pairs,
            decoderFactory: { RemotingEquatableDecoder() })
    }
}

/// `RemotingCommand` compared by its wire content, for the NIO decoder verifier.
/// A command's fields, compared as values (header fields are encoded in no fixed order).
struct RemotingCommandEquatable: Equatable {
    var code: Int32
    var language: String
    var version: Int32
    var opaque: Int32
    var flag: Int32
    var remark: String?
    var extFields: [String: String]
    var body: [UInt8]
    var serializeType: SerializeType

    init(_ command: RemotingCommand) {
        code = command.code
        language = command.language
        version = command.version
        opaque = command.opaque
        flag = command.flag
        remark = command.remark
        extFields = command.extFields
        body = command.bodyBytes
        serializeType = command.serializeType
    }
}

struct RemotingEquatableDecoder: ByteToMessageDecoder {
    typealias InboundOut = RemotingCommandEquatable
    var inner = RemotingFrameDecoder(maxFrameLength: 1 << 20)
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let command = try inner.decode(buffer: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(RemotingCommandEquatable(command)))
        return .continue
    }
    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}

/// A tiny seeded generator (tests only): same seed, same bytes.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct CounterTests {
    @Test func opaquesWrapInsteadOfTrapping() {
        let sequence = OpaqueSequence(after: Int32.max - 2)
        #expect((0..<4).map { _ in sequence.next() } == [Int32.max - 1, Int32.max, 0, 1])
    }
}
