import DLedgerStore
import Testing

struct DLedgerPeersTests {
    @Test func rocketMQsPeerStringParses() throws {
        let peers = try DLedgerPeers(parsing: "n0-127.0.0.1:40911;n1-127.0.0.1:40912; n2-localhost:40913")
        #expect(peers.peers.map(\.id) == ["n0", "n1", "n2"])
        #expect(peers.peers.map(\.number) == [0, 1, 2])
        #expect(try peers.member("n2") == .init(id: "n2", number: 2, host: "localhost", port: 40913))
    }

    @Test(arguments: [
        ("", DLedgerPeersError.empty),
        ("n0127.0.0.1:1", .malformed("n0127.0.0.1:1", "no '-' after the id")),
        ("x0-127.0.0.1:1", .malformed("x0-127.0.0.1:1", "the id must be n0 … n1023")),
        ("n0-127.0.0.1:0", .malformed("n0-127.0.0.1:0", "the address must be host:port with a port in 1...65535")),
        ("n0-127.0.0.1", .malformed("n0-127.0.0.1", "the address must be host:port with a port in 1...65535")),
        ("n0-127.0.0.1:1;n0-127.0.0.1:2", .duplicateId("n0")),
        ("n0-127.0.0.1:1;n1-127.0.0.1:1", .duplicateAddress("127.0.0.1:1")),
    ])
    func badPeerStringsAreRefusedWithTheReason(text: String, error: DLedgerPeersError) {
        #expect(throws: error) { try DLedgerPeers(parsing: text) }
    }

    @Test func anUnknownSelfIdNamesTheKnownOnes() throws {
        let peers = try DLedgerPeers(parsing: "n0-127.0.0.1:40911;n1-127.0.0.1:40912")
        #expect(throws: DLedgerPeersError.unknownSelf("n5", known: ["n0", "n1"])) { try peers.member("n5") }
    }
}
