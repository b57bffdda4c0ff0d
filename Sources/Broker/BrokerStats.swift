import Synchronization

/// Messages stored and served since the broker started (RocketMQ's `StoreStatsService` totals,
/// shown in runtime info as `msgPutTotalTodayNow` and `msgGetTotalTodayNow`). Two relaxed
/// atomic adds per request: nothing else on the hot path.
final class BrokerStats: Sendable {
    private let putCount = Atomic<Int64>(0)
    private let gotCount = Atomic<Int64>(0)

    func put(_ count: Int) { putCount.add(Int64(count), ordering: .relaxed) }
    func got(_ count: Int) { gotCount.add(Int64(count), ordering: .relaxed) }

    var messagesPut: Int64 { putCount.load(ordering: .relaxed) }
    var messagesGot: Int64 { gotCount.load(ordering: .relaxed) }
}
