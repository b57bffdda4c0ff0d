/// A DLedger group's members from `dLegerPeers` (`dledger-design.md` §5.3):
/// `n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913`. The id is the text before the
/// first `-`, the address is the rest. Ids are `n` plus a number, which is also the Raft node id
/// and, plus one, the brokerId a follower registers with.
public struct DLedgerPeers: Sendable, Equatable {
    public struct Peer: Sendable, Equatable {
        public var id: String
        public var number: UInt64
        public var host: String
        public var port: Int

        public init(id: String, number: UInt64, host: String, port: Int) {
            self.id = id
            self.number = number
            self.host = host
            self.port = port
        }

        public var address: String { "\(host):\(port)" }
    }

    /// In the order given.
    public var peers: [Peer]

    public init(parsing text: String) throws(DLedgerPeersError) {
        var peers: [Peer] = []
        for item in text.split(separator: ";", omittingEmptySubsequences: true) {
            let item = item.trimmingWhitespace
            guard let dash = item.firstIndex(of: "-") else { throw .malformed(String(item), "no '-' after the id") }
            let id = String(item[..<dash])
            let address = item[item.index(after: dash)...]
            guard id.first == "n", let number = UInt64(id.dropFirst()), number < 1024 else {
                throw .malformed(String(item), "the id must be n0 … n1023")
            }
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
                (1...65535).contains(port), colon != address.startIndex
            else { throw .malformed(String(item), "the address must be host:port with a port in 1...65535") }
            guard !peers.contains(where: { $0.id == id }) else { throw .duplicateId(id) }
            let host = String(address[..<colon])
            guard !peers.contains(where: { $0.host == host && $0.port == port }) else {
                throw .duplicateAddress(String(address))
            }
            peers.append(Peer(id: id, number: number, host: host, port: port))
        }
        guard !peers.isEmpty else { throw .empty }
        self.peers = peers
    }

    public func peer(_ id: String) -> Peer? { peers.first { $0.id == id } }

    /// The member `selfId`, or an error naming the known ids.
    public func member(_ selfId: String) throws(DLedgerPeersError) -> Peer {
        guard let peer = peer(selfId) else { throw .unknownSelf(selfId, known: peers.map(\.id)) }
        return peer
    }
}

public enum DLedgerPeersError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case malformed(String, String)
    case duplicateId(String)
    case duplicateAddress(String)
    case unknownSelf(String, known: [String])

    public var description: String {
        switch self {
        case .empty: "dLegerPeers is empty"
        case .malformed(let item, let why): "dLegerPeers entry '\(item)': \(why)"
        case .duplicateId(let id): "dLegerPeers names \(id) twice"
        case .duplicateAddress(let address): "dLegerPeers lists \(address) twice"
        case .unknownSelf(let id, let known):
            "dLegerSelfId \(id.isEmpty ? "(missing)" : id) is not in dLegerPeers (\(known.joined(separator: ", ")))"
        }
    }
}

extension Substring {
    var trimmingWhitespace: Substring {
        var text = self
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
