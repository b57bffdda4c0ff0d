import Remoting

/// RocketMQ's default clustering allocation (`AllocateMessageQueueAveragely`): with queues and
/// client ids both sorted, client `i` of `c` takes a contiguous run of about `n / c` queues.
/// Every client computes the same split, so no coordination is needed.
public enum AllocateMessageQueueAveragely {
    public static func allocate(queues: [MessageQueue], clientIds: [String], me: String) -> [MessageQueue] {
        let queues = queues.sorted()
        let clientIds = clientIds.sorted()
        guard let index = clientIds.firstIndex(of: me), !queues.isEmpty else { return [] }
        let n = queues.count
        let c = clientIds.count
        let mod = n % c
        let average = n <= c ? 1 : (mod > 0 && index < mod ? n / c + 1 : n / c)
        let start = (mod > 0 && index < mod) ? index * average : index * average + mod
        let range = min(average, n - start)
        guard range > 0 else { return [] }
        return (0..<range).map { queues[(start + $0) % n] }
    }
}
