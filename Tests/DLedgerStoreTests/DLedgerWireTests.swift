import DLedgerStore
import NIOCore
import Raft
import Remoting
import Testing

struct DLedgerWireTests {
    static let peers = try! DLedgerPeers(parsing: "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913")
    static func identity(_ id: String, peers: DLedgerPeers = Self.peers, fileSize: Int = 1 << 30)
        -> DLedgerWire.Identity
    {
        DLedgerWire.Identity(group: "g", selfId: id, peers: peers, dataFileSize: fileSize)
    }

    static let messages: [RaftMessage] = [
        .preVote(lastLogIndex: 7, lastLogTerm: Term(2)), .preVoteResponse(granted: true),
        .vote(lastLogIndex: 7, lastLogTerm: Term(2), leadershipTransfer: true), .voteResponse(granted: false),
        .append(
            prevLogIndex: 3, prevLogTerm: Term(1),
            entries: [
                LogEntry(index: 4, term: Term(2), kind: .noop), LogEntry(index: 5, term: Term(2), payload: [1, 2, 3]),
            ], leaderCommit: 3),
        .appendResponse(success: false, index: 9, hintIndex: 4, hintTerm: Term(1)),
        .restartLog(after: 100, term: Term(3), leaderCommit: 120), .heartbeat(leaderCommit: 5), .heartbeatResponse,
        .timeoutNow,
    ]

    @Test(arguments: messages)
    func everyMessageRoundTrips(_ message: RaftMessage) throws {
        let envelope = Envelope(from: NodeID(0), to: NodeID(1), term: Term(3), message: message)
        let command = DLedgerWire.encode(
            DLedgerWire.Frame(envelope: envelope, prevEnd: 480), identity: Self.identity("n0"), to: "n1")
        let frame = try DLedgerWire.decode(command, identity: Self.identity("n1"), peers: Self.peers)
        #expect(frame.envelope == envelope)
        if case .append = message { #expect(frame.prevEnd == 480) }
    }

    static func command(to id: String = "n1", from sender: DLedgerWire.Identity = identity("n0")) -> RemotingCommand {
        DLedgerWire.encode(
            DLedgerWire.Frame(
                envelope: Envelope(from: NodeID(0), to: NodeID(1), term: Term(1), message: .heartbeat(leaderCommit: 0))),
            identity: sender, to: id)
    }

    @Test func framesFromNonPeersOrOtherConfigurationsAreRefused() throws {
        let me = Self.identity("n1")
        var otherGroup = Self.command()
        otherGroup.extFields["group"] = "other"
        var stranger = Self.command()
        stranger.extFields["remoteId"] = "n7"
        var misaddressed = Self.command()
        misaddressed.extFields["localId"] = "n2"
        let otherPeers = try DLedgerPeers(parsing: "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:49999")
        let differentList = Self.command(from: Self.identity("n0", peers: otherPeers))
        let differentFileSize = Self.command(from: Self.identity("n0", fileSize: 4096))
        for command in [otherGroup, stranger, misaddressed, differentList, differentFileSize] {
            #expect {
                _ = try DLedgerWire.decode(command, identity: me, peers: Self.peers)
            } throws: { error in
                guard case .refused = error as? DLedgerWireError else { return false }
                return true
            }
        }
    }

    @Test func malformedBodiesAreRefusedWithoutTrapping() throws {
        let me = Self.identity("n1")
        let envelope = Envelope(
            from: NodeID(0), to: NodeID(1), term: Term(1),
            message: .append(
                prevLogIndex: 1, prevLogTerm: Term(1), entries: [LogEntry(index: 2, term: Term(1), payload: [9])],
                leaderCommit: 1))
        let good = DLedgerWire.encode(DLedgerWire.Frame(envelope: envelope), identity: Self.identity("n0"), to: "n1")
        let bytes = Array(good.body!.readableBytesView)
        var rng = SplitMix64(seed: 11)
        var refused = 0
        // Every truncation, and random byte flips: a clear error or a valid frame, never a trap.
        var variants = (0..<bytes.count).map { Array(bytes[..<$0]) }
        for _ in 0..<2000 {
            var flipped = bytes
            flipped[rng.next(in: 0..<flipped.count)] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            variants.append(flipped)
        }
        for variant in variants {
            var command = good
            command.body = ByteBuffer(bytes: variant)
            do {
                let frame = try DLedgerWire.decode(command, identity: me, peers: Self.peers)
                if case .append(let prev, _, let entries, _) = frame.envelope.message {
                    #expect(entries.enumerated().allSatisfy { $0.element.index == prev + 1 + UInt64($0.offset) })
                }
            } catch {
                refused += 1
            }
        }
        #expect(refused >= bytes.count, "every truncation must be refused")
        var badTerm = good
        badTerm.extFields["term"] = String(UInt64.max)
        #expect(throws: DLedgerWireError.self) { _ = try DLedgerWire.decode(badTerm, identity: me, peers: Self.peers) }
    }
}
