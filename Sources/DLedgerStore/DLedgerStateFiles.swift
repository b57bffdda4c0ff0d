import Common

/// `currterm` (`dledger-design.md` §1, §6.4): the term and the vote of this member, as Java
/// properties (`currTerm`, `voteLeader`). Written atomically (tmp, fsync, rename, fsync the
/// directory) before any vote or append ack leaves, so a restart never votes twice in a term.
public struct DLedgerTermFile: Sendable, Equatable {
    public var currTerm: Int64
    /// The member voted for in `currTerm` (`n1`), or nil.
    public var voteLeader: String?

    public init(currTerm: Int64 = 0, voteLeader: String? = nil) {
        self.currTerm = currTerm
        self.voteLeader = voteLeader
    }

    public static func read(_ path: String) throws -> DLedgerTermFile? {
        guard let text = try AtomicFile.read(path) else { return nil }
        let values = PropertiesFile.parse(text)
        guard let termText = values["currTerm"], let term = Int64(termText), term >= 0 else {
            throw DLedgerStateFileError(path: path, problem: "currTerm is missing or not a non-negative integer")
        }
        let vote = values["voteLeader"].flatMap { $0.isEmpty ? nil : $0 }
        return DLedgerTermFile(currTerm: term, voteLeader: vote)
    }

    public func write(to path: String) throws {
        try AtomicFile.write(
            PropertiesFile.render(["currTerm": String(currTerm), "voteLeader": voteLeader ?? ""]), to: path)
    }
}

/// `checkpoint` (§6.4): where the log ends and how far it is committed, as Java properties
/// (`endIndex`, `committedIndex`). Advisory: recovery trusts the data, and caps the committed
/// index at the recovered end.
public struct DLedgerCheckpoint: Sendable, Equatable {
    public var endIndex: Int64
    public var committedIndex: Int64

    public init(endIndex: Int64 = -1, committedIndex: Int64 = -1) {
        self.endIndex = endIndex
        self.committedIndex = committedIndex
    }

    public static func read(_ path: String) throws -> DLedgerCheckpoint? {
        guard let text = try AtomicFile.read(path) else { return nil }
        let values = PropertiesFile.parse(text)
        guard let end = values["endIndex"].flatMap({ Int64($0) }), end >= -1,
            let committed = values["committedIndex"].flatMap({ Int64($0) }), committed >= -1
        else {
            throw DLedgerStateFileError(path: path, problem: "endIndex/committedIndex missing or below -1")
        }
        return DLedgerCheckpoint(endIndex: end, committedIndex: committed)
    }

    public func write(to path: String) throws {
        try AtomicFile.write(
            PropertiesFile.render(["endIndex": String(endIndex), "committedIndex": String(committedIndex)]), to: path)
    }
}

public struct DLedgerStateFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}
