import Common
import DLedgerStore
import Testing

struct DLedgerStateFilesTests {
    @Test func termAndVoteRoundTripAsJavaProperties() throws {
        let path = try temporaryDirectory() + "/currterm"
        #expect(try DLedgerTermFile.read(path) == nil)
        try DLedgerTermFile(currTerm: 7, voteLeader: "n1").write(to: path)
        #expect(try DLedgerTermFile.read(path) == DLedgerTermFile(currTerm: 7, voteLeader: "n1"))
        #expect(PropertiesFile.parse(try #require(try AtomicFile.read(path))) == ["currTerm": "7", "voteLeader": "n1"])
        try DLedgerTermFile(currTerm: 8).write(to: path)
        #expect(try DLedgerTermFile.read(path) == DLedgerTermFile(currTerm: 8, voteLeader: nil))
    }

    @Test func aDamagedTermFileIsAnErrorNotTermZero() throws {
        let path = try temporaryDirectory() + "/currterm"
        try AtomicFile.write("currTerm=-3\nvoteLeader=n0\n", to: path)
        #expect(throws: DLedgerStateFileError.self) { try DLedgerTermFile.read(path) }
        try AtomicFile.write("garbage", to: path)
        #expect(throws: DLedgerStateFileError.self) { try DLedgerTermFile.read(path) }
    }

    @Test func checkpointRoundTripsAndRejectsNonsense() throws {
        let path = try temporaryDirectory() + "/checkpoint"
        try DLedgerCheckpoint(endIndex: 41, committedIndex: 40).write(to: path)
        #expect(try DLedgerCheckpoint.read(path) == DLedgerCheckpoint(endIndex: 41, committedIndex: 40))
        try AtomicFile.write("endIndex=x\ncommittedIndex=1\n", to: path)
        #expect(throws: DLedgerStateFileError.self) { try DLedgerCheckpoint.read(path) }
    }
}
