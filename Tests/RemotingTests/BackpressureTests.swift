import Common
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import Remoting

/// A connection is not read while too many of its requests are being handled or while it does
/// not read its responses; unfinished frames count against a server-wide budget.
struct BackpressureTests {
    /// Counts the `read` calls that reach the head of the pipeline (the socket).
    final class ReadCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = NIOAny
        let reads = Atomic<Int>(0)
        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    /// Answers each request only when the test releases it.
    final class HeldHandler: RemotingRequestHandler {
        let started = Atomic<Int>(0)
        let gates = Mutex<[CheckedContinuation<Void, Never>]>([])
        func handle(_ request: RemotingCommand, from connection: RemotingConnection) async -> RemotingCommand? {
            await withCheckedContinuation { continuation in
                gates.withLock { $0.append(continuation) }
                started.add(1, ordering: .relaxed)
            }
            return request.response(code: ResponseCode.success)
        }
        func connectionClosed(_ connection: RemotingConnection) {}
        func releaseOne() { gates.withLock { $0.isEmpty ? nil : $0.removeFirst() }?.resume() }
    }

    static func request(_ opaque: Int32) -> RemotingCommand {
        RemotingCommand(code: RequestCode.getAllTopicConfig, opaque: opaque)
    }

    static func eventually(_ condition: () -> Bool, loop: EmbeddedEventLoop) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            loop.run()
            try #require(ContinuousClock.now < deadline, "condition not met within 10 s")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func readsStopAtTheInflightLimitAndResumeWhenARequestFinishes() async throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let counter = ReadCounter()
        let held = HeldHandler()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(
            RemotingChannelHandler(requestHandler: held, logger: Logger(label: "test"), maxInflightRequests: 2))
        channel.pipeline.read()
        #expect(counter.reads.load(ordering: .relaxed) == 1, "open: the read goes through")
        try channel.writeInbound(Self.request(1))
        try channel.writeInbound(Self.request(2))
        try await Self.eventually({ held.started.load(ordering: .relaxed) == 2 }, loop: loop)
        channel.pipeline.read()
        #expect(counter.reads.load(ordering: .relaxed) == 1, "two in flight: the read is held back")
        held.releaseOne()
        try await Self.eventually({ counter.reads.load(ordering: .relaxed) == 2 }, loop: loop)
        let response = try #require(try channel.readOutbound(as: RemotingCommand.self))
        #expect(response.isResponse && response.code == ResponseCode.success)
        held.releaseOne()
        _ = try await channel.close()
    }

    @Test func readsStopWhileThePeerDoesNotReadItsResponses() throws {
        let channel = EmbeddedChannel()
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(
            RemotingChannelHandler(requestHandler: nil, logger: Logger(label: "test")))
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.pipeline.read()
        #expect(counter.reads.load(ordering: .relaxed) == 0, "not writable: no read")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(counter.reads.load(ordering: .relaxed) == 1, "writable again: the held read is issued")
        _ = try? channel.finish()
    }

    @Test func theBudgetRefusesTheLargestHoldersOnceItIsFull() {
        let budget = PartialFrameBudget(limitBytes: 1000)
        #expect(budget.update(from: 0, to: 600))  // alone: may take the whole budget
        #expect(budget.update(from: 0, to: 300))
        #expect(!budget.update(from: 600, to: 800), "over the budget and over its share of 500")
        #expect(budget.update(from: 300, to: 450), "over the budget but under its share")
        #expect(budget.heldBytes == 1050)
        #expect(budget.update(from: 600, to: 0))  // a finished frame or a closed connection
        #expect(budget.update(from: 450, to: 0))
        #expect(budget.heldBytes == 0)
    }

    @Test func aDecoderOverTheBudgetFailsAndReleasesItsShareWhenRemoved() throws {
        let budget = PartialFrameBudget(limitBytes: 64 * 1024)
        let big = EmbeddedChannel(
            handler: ByteToMessageHandler(RemotingFrameDecoder(maxFrameLength: 1 << 20, budget: budget)))
        let small = EmbeddedChannel(
            handler: ByteToMessageHandler(RemotingFrameDecoder(maxFrameLength: 1 << 20, budget: budget)))
        var start = ByteBuffer()
        start.writeInteger(Int32(512 * 1024))
        start.writeRepeatingByte(0, count: 40 * 1024)
        try big.writeInbound(start)
        #expect(budget.heldBytes == 40 * 1024 + 4)
        var tail = ByteBuffer()
        tail.writeInteger(Int32(512 * 1024))
        tail.writeRepeatingByte(0, count: 10 * 1024)
        try small.writeInbound(tail)
        var more = ByteBuffer()
        more.writeRepeatingByte(0, count: 30 * 1024)
        #expect(throws: RemotingDecodeError.self) { try big.writeInbound(more) }
        _ = try? big.finish()
        #expect(budget.heldBytes == 10 * 1024 + 4, "the closed connection's bytes are released")
        _ = try? small.finish()
        #expect(budget.heldBytes == 0)
    }
}

struct HeaderFieldTests {
    static func command(_ value: String) -> RemotingCommand {
        RemotingCommand(code: 10, extFields: ["n": value])
    }

    @Test(arguments: [
        ("5", Int32(5)), (" 7 ", 7), ("-2147483648", .min), ("2147483647", .max),
    ])
    func integersInRangeParse(text: String, expected: Int32) throws {
        #expect(try Self.command(text).integer("n", as: Int32.self) == expected)
    }

    @Test(arguments: ["2147483648", "-2147483649", "9223372036854775808", "abc", "", "1e3", "0x10"])
    func integersOutOfRangeOrNotNumbersNameTheField(text: String) {
        #expect(throws: HeaderError.self) { try Self.command(text).integer("n", as: Int32.self) }
        do {
            _ = try Self.command(text).integer("n", as: Int32.self)
        } catch {
            #expect(error.description.contains("<n>"))
        }
    }

    @Test func rangesAndDefaultsApply() throws {
        #expect(throws: HeaderError.self) { try Self.command("-1").int64("n", in: 0...Int64.max) }
        #expect(try Self.command("").optionalInteger("n", default: Int64(9)) == 9)
        #expect(try Self.command("3").optionalInteger("n", default: Int64(9)) == 3)
        #expect(try RemotingCommand(code: 10).optionalInteger("n", default: Int32(4)) == 4)
        #expect(throws: HeaderError.self) { try RemotingCommand(code: 10).int32("n") }
    }

    @Test func saturatingArithmeticClampsInsteadOfTrapping() {
        #expect(Int64.max.saturatingAdding(1) == .max)
        #expect(Int64.min.saturatingAdding(-1) == .min)
        #expect(Int32.max.saturatingAdding(3) == .max)
        #expect(Int64.min.saturatingSubtracting(1) == .min)
        #expect(Int64.max.saturatingMultiplied(by: 2) == .max)
        #expect(Int64.min.saturatingMultiplied(by: 2) == .min)
        #expect(Int64(-3).saturatingMultiplied(by: .max) == .min)
        #expect(Int64(40).saturatingAdding(2) == 42)
    }
}
