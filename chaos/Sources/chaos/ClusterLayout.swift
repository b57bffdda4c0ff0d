import Common
import Foundation

/// Where every process of a chaos cluster lives. Everything runs inside the runner's private
/// network namespace (`chaos/run.sh`): NameServers on 127.0.0.1, and each broker on its own
/// 127.0.0.x (remoting port 10911, DLedger port 40911), so firewall rules by address cut
/// exactly the links between the brokers they name while clients (127.0.0.1) keep reaching all.
///
/// Broker configs start from a member's file in `conf/dledger` (the keys an operator uses) and
/// override what the layout decides: names, addresses, paths, small files for a small disk.
struct ClusterLayout: Sendable {
    struct Node: Sendable {
        var index: Int
        var group: Int
        var member: Int
        var host: String
        var directory: String
        var id: String { "n\(member)" }
        var brokerName: String { "ChaosGroup\(group)" }
        var remotingAddress: String { "\(host):10911" }
        var dledgerAddress: String { "\(host):40911" }
        var name: String { "\(brokerName)-\(id)" }
        /// The node's store: a tmpfs of its own (a small disk that can fill up).
        var storeDirectory: String { directory + "/store" }
        var dledgerDataDirectory: String { storeDirectory + "/dledger-\(id)/data" }
        var dledgerIndexDirectory: String { storeDirectory + "/dledger-\(id)/index" }
        /// The file a `disk_full` fault fills the store's tmpfs with.
        var ballastPath: String { storeDirectory + "/chaos-ballast" }
        /// fiu-run's control FIFOs: `<path>-<pid>.in` / `.out`.
        var fiuControlPath: String { directory + "/fiu-ctrl" }
        var confPath: String { directory + "/broker.conf" }
        var logPath: String { directory + "/broker.log" }
        var skewPath: String { directory + "/clock-skew" }
    }

    static let membersPerGroup = 3
    static let dataFileSize = 16 * 1024 * 1024
    static let indexFileSize = 32 * 5 * 1024 * 1024
    let outDirectory: String
    let namesrvAddresses: [String]
    let nodes: [Node]
    let template: [String: String]

    init(outDirectory: String, groups: Int, namesrvs: Int, template: [String: String]) {
        self.outDirectory = outDirectory
        self.template = template
        namesrvAddresses = (0..<namesrvs).map { "127.0.0.1:\(9876 + $0)" }
        nodes = (0..<groups).flatMap { group in
            (0..<Self.membersPerGroup).map { member in
                Node(
                    index: group * Self.membersPerGroup + member, group: group, member: member,
                    host: "127.0.0.\(2 + group * Self.membersPerGroup + member)",
                    directory: outDirectory + "/nodes/g\(group)-n\(member)")
            }
        }
        precondition(
            (namesrvAddresses + nodes.map(\.remotingAddress)).allSatisfy { $0.hasPrefix("127.") },
            "the chaos cluster lives on loopback addresses only")
    }

    var namesrvAddr: String { namesrvAddresses.joined(separator: ";") }

    func members(ofGroup group: Int) -> [Node] { nodes.filter { $0.group == group } }
    var groupCount: Int { (nodes.map(\.group).max() ?? -1) + 1 }

    func namesrvDirectory(_ index: Int) -> String { outDirectory + "/namesrv\(index)" }

    func namesrvProperties(_ index: Int) -> [String: String] {
        [
            "listenPort": String(9876 + index), "bindAddress": "127.0.0.1",
            "kvConfigPath": namesrvDirectory(index) + "/kvConfig.json",
        ]
    }

    func brokerProperties(_ node: Node) -> [String: String] {
        let peers = members(ofGroup: node.group).map { "\($0.id)-\($0.dledgerAddress)" }.joined(separator: ";")
        var properties = template
        let overrides: [String: String] = [
            "brokerClusterName": "ChaosCluster", "brokerName": node.brokerName, "listenPort": "10911",
            "namesrvAddr": namesrvAddr, "brokerIP1": node.host, "bindAddress": node.host,
            "storePathRootDir": node.storeDirectory, "storePathCommitLog": node.storeDirectory + "/commitlog",
            "enableDLegerCommitLog": "true", "dLegerGroup": node.brokerName, "dLegerPeers": peers,
            "dLegerSelfId": node.id, "mappedFileSizeCommitLog": String(Self.dataFileSize),
            "defaultTopicQueueNums": "8", "autoCreateTopicEnable": "true",
            // Small index files for a small disk; a full disk refuses writes instead of deleting
            // unexpired data (forced cleaning would look like loss to the checker).
            "maxHashSlotNum": "100000", "maxIndexNum": "400000", "mappedFileSizeConsumeQueue": "600000",
            "diskSpaceCleanForciblyRatio": "1.0", "diskMaxUsedSpaceRatio": "95",
            "registerNameServerPeriod": "5000",
        ]
        properties.merge(overrides) { $1 }
        properties["preferredLeaderId"] = nil
        return properties
    }
}
