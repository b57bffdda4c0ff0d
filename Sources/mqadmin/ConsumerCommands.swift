import ArgumentParser
import Client
import Common
import Remoting

struct ConsumerProgress: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumerProgress",
        abstract: "A consumer group's offsets and lag per queue (all groups without -g).")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("g"), help: "Consumer group.") var group: String?
    @Option(name: .customShort("t"), help: "Only this topic.") var topic: String?
    @Option(name: .customShort("c"), help: "Only this cluster's brokers.") var cluster: String?

    func run() async throws {
        try await withAdmin(common) { admin in
            guard let group else {
                print(column("#Group", 40) + column("#Queues", 9) + "#Diff Total")
                for group in try await admin.consumerGroups(cluster: cluster) {
                    let progress = try await admin.consumerProgress(group: group, cluster: cluster)
                    print(
                        column(group, 40) + column(String(progress.count), 9) + String(progress.map(\.lag).reduce(0, +))
                    )
                }
                return
            }
            let progress = try await admin.consumerProgress(group: group, topic: topic, cluster: cluster)
            print(
                column("#Topic", 32) + column("#Broker Name", 22) + column("#QID", 6) + column("#Broker Offset", 16)
                    + column("#Consumer Offset", 18) + column("#Diff", 10) + "#LastTime")
            for row in progress {
                print(
                    column(row.queue.topic, 32) + column(row.queue.brokerName, 22)
                        + column(String(row.queue.queueId), 6)
                        + column(String(row.brokerOffset), 16) + column(String(row.consumerOffset), 18)
                        + column(String(row.lag), 10) + String(row.lastTimestamp))
            }
            print("")
            print("Diff Total: \(progress.map(\.lag).reduce(0, +))")
        }
    }
}

struct ResetOffsetByTime: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resetOffsetByTime",
        abstract: "Move a group's offsets on a topic to the first message stored at or after a time.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("g"), help: "Consumer group.") var group: String
    @Option(name: .customShort("t"), help: "Topic.") var topic: String
    @Option(
        name: .customShort("s"),
        help: "Milliseconds since the epoch, 'now' (the end of every queue) or -1 (the same).")
    var timestamp: String
    @Option(name: .customShort("f"), help: "Force: also move offsets forwards (default true).") var force = true

    func run() async throws {
        let millis: Int64
        if timestamp == "now" {
            millis = -1
        } else if let value = Int64(timestamp) {
            millis = value
        } else {
            throw ValidationError("-s \(timestamp): use milliseconds since the epoch, 'now' or -1")
        }
        try await withAdmin(common) { admin in
            let offsets = try await admin.resetOffsetByTime(group: group, topic: topic, timestamp: millis, force: force)
            print(column("#Broker Name", 22) + column("#QID", 6) + "#Offset")
            for (queue, offset) in offsets.sorted(by: { $0.key < $1.key }) {
                print(column(queue.brokerName, 22) + column(String(queue.queueId), 6) + String(offset))
            }
        }
    }
}
