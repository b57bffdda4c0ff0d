import Common
import NIOCore
import Raft
import Remoting

/// Raft messages between our DLedger peers, in remoting frames with DLedger's request codes
/// (`dledger-design.md` §5.1) and a compact binary body ([our choice], §5). Every frame is a
/// one-way request; answers are requests the other way. The header names the group, sender and
/// receiver, and a fingerprint of the peer list and data file size, so a node configured
/// differently is refused with a clear log line instead of joining.
public enum DLedgerWire {
    public static let vote: Int32 = 51001
    public static let heartbeat: Int32 = 51002
    public static let push: Int32 = 51004
    public static let leadershipTransfer: Int32 = 51005

    /// Indices and terms above this are refused (arithmetic on them can never overflow).
    static let maxValue: UInt64 = 1 << 62
    static let maxEntriesPerFrame = 100_000

    enum Kind: UInt8 {
        case preVote = 1
        case preVoteResponse, vote, voteResponse, append, appendResponse, restartLog
        case heartbeat, heartbeatResponse, timeoutNow
    }

    static func code(of message: RaftMessage) -> Int32 {
        switch message {
        case .preVote, .preVoteResponse, .vote, .voteResponse: vote
        case .heartbeat, .heartbeatResponse: heartbeat
        case .append, .appendResponse, .restartLog: push
        case .timeoutNow: leadershipTransfer
        }
    }

    /// What identifies this member's configuration on the wire.
    public struct Identity: Sendable, Equatable {
        public var group: String
        public var selfId: String
        /// CRC-32 of the normalized peer list and the data file size.
        public var fingerprint: String

        public init(group: String, selfId: String, peers: DLedgerPeers, dataFileSize: Int) {
            self.group = group
            self.selfId = selfId
            let normalized = peers.peers.map { "\($0.id)-\($0.address)" }.sorted().joined(separator: ";")
            fingerprint = String(CRC32.checksum(Array("\(normalized)|\(dataFileSize)".utf8)))
        }
    }

    /// One message with what the leader adds for the follower: where the leader's data ends
    /// after `prevLogIndex` (-1 when not known; the position check of appends), and with
    /// `restartLog` the leader's boundary entry as stored (the follower's log restarts with it).
    public struct Frame: Sendable, Equatable {
        public var envelope: Envelope
        public var prevEnd: Int64
        public var boundary: [UInt8]

        public init(envelope: Envelope, prevEnd: Int64 = -1, boundary: [UInt8] = []) {
            self.envelope = envelope
            self.prevEnd = prevEnd
            self.boundary = boundary
        }
    }

    public static func encode(_ frame: Frame, identity: Identity, to peerId: String) -> RemotingCommand {
        let envelope = frame.envelope
        var body = ByteBuffer()
        func index(_ value: UInt64) { body.writeInteger(value) }
        switch envelope.message {
        case .preVote(let lastIndex, let lastTerm):
            body.writeInteger(Kind.preVote.rawValue)
            index(lastIndex)
            index(lastTerm.value)
        case .preVoteResponse(let granted):
            body.writeInteger(Kind.preVoteResponse.rawValue)
            body.writeInteger(UInt8(granted ? 1 : 0))
        case .vote(let lastIndex, let lastTerm, let transfer):
            body.writeInteger(Kind.vote.rawValue)
            index(lastIndex)
            index(lastTerm.value)
            body.writeInteger(UInt8(transfer ? 1 : 0))
        case .voteResponse(let granted):
            body.writeInteger(Kind.voteResponse.rawValue)
            body.writeInteger(UInt8(granted ? 1 : 0))
        case .append(let prevIndex, let prevTerm, let entries, let commit):
            body.writeInteger(Kind.append.rawValue)
            index(prevIndex)
            index(prevTerm.value)
            index(commit)
            body.writeInteger(frame.prevEnd)
            body.writeInteger(UInt32(entries.count))
            for entry in entries {
                index(entry.index)
                index(entry.term.value)
                body.writeInteger(entry.kind.rawValue)
                body.writeInteger(UInt32(entry.payload.count))
                body.writeBytes(entry.payload)
            }
        case .appendResponse(let success, let matched, let hintIndex, let hintTerm):
            body.writeInteger(Kind.appendResponse.rawValue)
            body.writeInteger(UInt8(success ? 1 : 0))
            index(matched)
            index(hintIndex)
            index(hintTerm.value)
        case .restartLog(let after, let term, let commit):
            body.writeInteger(Kind.restartLog.rawValue)
            index(after)
            index(term.value)
            index(commit)
            body.writeInteger(UInt32(frame.boundary.count))
            body.writeBytes(frame.boundary)
        case .heartbeat(let commit):
            body.writeInteger(Kind.heartbeat.rawValue)
            index(commit)
        case .heartbeatResponse:
            body.writeInteger(Kind.heartbeatResponse.rawValue)
        case .timeoutNow:
            body.writeInteger(Kind.timeoutNow.rawValue)
        }
        var command = RemotingCommand(code: code(of: envelope.message))
        command.extFields = [
            "group": identity.group, "remoteId": identity.selfId, "localId": peerId,
            "term": String(envelope.term.value), "peers": identity.fingerprint,
        ]
        command.body = body
        return command
    }

    /// Decodes a frame addressed to `identity` from one of `peers`; every field is range-checked.
    public static func decode(_ command: RemotingCommand, identity: Identity, peers: DLedgerPeers)
        throws(DLedgerWireError)
        -> Frame
    {
        let fields = command.extFields
        guard fields["group"] == identity.group else {
            throw .refused("group \(fields["group"] ?? "(none)") is not \(identity.group)")
        }
        guard let remoteId = fields["remoteId"], let sender = peers.peer(remoteId), remoteId != identity.selfId else {
            throw .refused("sender \(fields["remoteId"] ?? "(none)") is not a peer of \(identity.selfId)")
        }
        guard fields["localId"] == identity.selfId else {
            throw .refused("addressed to \(fields["localId"] ?? "(none)"), this is \(identity.selfId)")
        }
        guard fields["peers"] == identity.fingerprint else {
            throw .refused(
                "\(remoteId) runs with a different dLegerPeers list or data file size (fingerprint \(fields["peers"] ?? "none"), ours \(identity.fingerprint))"
            )
        }
        guard let termText = fields["term"], let termValue = UInt64(termText), termValue < maxValue else {
            throw .malformed("term \(fields["term"] ?? "(none)")")
        }
        guard var body = command.body, let kindByte = body.readInteger(as: UInt8.self),
            let kind = Kind(rawValue: kindByte)
        else { throw .malformed("no message kind") }
        func index(_ what: String) throws(DLedgerWireError) -> UInt64 {
            guard let value = body.readInteger(as: UInt64.self), value < maxValue else { throw .malformed(what) }
            return value
        }
        func flag(_ what: String) throws(DLedgerWireError) -> Bool {
            guard let value = body.readInteger(as: UInt8.self), value <= 1 else { throw .malformed(what) }
            return value == 1
        }
        let message: RaftMessage
        var prevEnd: Int64 = -1
        var boundary: [UInt8] = []
        switch kind {
        case .preVote:
            message = .preVote(lastLogIndex: try index("last index"), lastLogTerm: Term(try index("last term")))
        case .preVoteResponse: message = .preVoteResponse(granted: try flag("granted"))
        case .vote:
            message = .vote(
                lastLogIndex: try index("last index"), lastLogTerm: Term(try index("last term")),
                leadershipTransfer: try flag("transfer"))
        case .voteResponse: message = .voteResponse(granted: try flag("granted"))
        case .append:
            let prevIndex = try index("prev index")
            let prevTerm = Term(try index("prev term"))
            let commit = try index("commit")
            guard let end = body.readInteger(as: Int64.self), end >= -1 else { throw .malformed("prev end") }
            prevEnd = end
            guard let count = body.readInteger(as: UInt32.self), count <= maxEntriesPerFrame else {
                throw .malformed("entry count")
            }
            var entries: [LogEntry] = []
            entries.reserveCapacity(Int(count))
            for position in 0..<UInt64(count) {
                let entryIndex = try index("entry index")
                guard entryIndex == prevIndex + 1 + position else { throw .malformed("entries not contiguous") }
                let entryTerm = Term(try index("entry term"))
                guard let kindRaw = body.readInteger(as: UInt8.self), let entryKind = EntryKind(rawValue: kindRaw),
                    entryKind != .configuration
                else { throw .malformed("entry kind") }
                guard let length = body.readInteger(as: UInt32.self), Int(length) <= body.readableBytes,
                    let payload = body.readBytes(length: Int(length))
                else { throw .malformed("entry payload length") }
                entries.append(LogEntry(index: entryIndex, term: entryTerm, kind: entryKind, payload: payload))
            }
            message = .append(prevLogIndex: prevIndex, prevLogTerm: prevTerm, entries: entries, leaderCommit: commit)
        case .appendResponse:
            message = .appendResponse(
                success: try flag("success"), index: try index("index"), hintIndex: try index("hint index"),
                hintTerm: Term(try index("hint term")))
        case .restartLog:
            message = .restartLog(
                after: try index("after"), term: Term(try index("term")), leaderCommit: try index("commit"))
            guard let length = body.readInteger(as: UInt32.self), Int(length) <= body.readableBytes,
                let bytes = body.readBytes(length: Int(length))
            else { throw .malformed("boundary entry length") }
            boundary = bytes
        case .heartbeat: message = .heartbeat(leaderCommit: try index("commit"))
        case .heartbeatResponse: message = .heartbeatResponse
        case .timeoutNow: message = .timeoutNow
        }
        guard body.readableBytes == 0 else { throw .malformed("\(body.readableBytes) bytes after the message") }
        guard code(of: message) == command.code else { throw .malformed("request code \(command.code) for \(kind)") }
        let selfNumber = peers.peer(identity.selfId)?.number ?? 0
        return Frame(
            envelope: Envelope(
                from: NodeID(sender.number), to: NodeID(selfNumber), term: Term(termValue), message: message),
            prevEnd: prevEnd, boundary: boundary)
    }
}

public enum DLedgerWireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// From something that is not a peer of this group (or is configured differently).
    case refused(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .refused(let why): "refused: \(why)"
        case .malformed(let what): "malformed DLedger frame: \(what)"
        }
    }
}
