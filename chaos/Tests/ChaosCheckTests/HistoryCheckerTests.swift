import Testing

@testable import ChaosCheck

/// Builds histories line by line, with a clock that moves 1 ms per event.
struct HistoryBuilder {
    var events: [HistoryEvent] = []
    var t = 0.0

    func pos(_ offset: Int64, queue: Int32 = 0, topic: String = "T") -> QueuePosition {
        QueuePosition(topic: topic, group: "g", queue: queue, offset: offset)
    }

    mutating func add(
        _ type: HistoryEvent.Kind, _ val: String, key: String? = nil, at offset: Int64? = nil, queue: Int32 = 0
    ) {
        t += 1
        events.append(
            HistoryEvent(t: t, type: type, proc: "p", val: val, key: key, pos: offset.map { pos($0, queue: queue) }))
    }

    /// An acknowledged send at `offset`, stored there, received there.
    mutating func clean(_ val: String, key: String? = nil, at offset: Int64, queue: Int32 = 0) {
        add(.invoke, val, key: key)
        add(.ok, val, key: key, at: offset, queue: queue)
        add(.recv, val, key: key, at: offset, queue: queue)
        add(.scan, val, key: key, at: offset, queue: queue)
    }

    mutating func fault(_ name: String, _ phase: HistoryEvent.Phase, at time: Double) {
        t = time
        events.append(HistoryEvent(t: t, type: .nemesis, proc: "nemesis", fault: name, phase: phase))
    }
}

struct HistoryCheckerTests {
    @Test func aCleanHistoryHasNoViolations() {
        var h = HistoryBuilder()
        for i in 0..<5 { h.clean("v\(i)", key: "k", at: Int64(i)) }
        let verdict = HistoryChecker().check(h.events)
        #expect(verdict.violationCount == 0)
        #expect(verdict.acked == 5 && verdict.invoked == 5 && verdict.duplicates == 0)
    }

    @Test func anAcknowledgedValueMissingFromTheScanIsLost() {
        var h = HistoryBuilder()
        h.clean("a", at: 0)
        h.add(.invoke, "b")
        h.add(.ok, "b", at: 1)
        let verdict = HistoryChecker().check(h.events)
        #expect(verdict.lost == ["b"])
        #expect(verdict.violationCount == 1)
    }

    @Test func storedButNeverConsumedIsUndelivered() {
        var h = HistoryBuilder()
        h.add(.invoke, "a")
        h.add(.ok, "a", at: 0)
        h.add(.scan, "a", at: 0)
        #expect(HistoryChecker().check(h.events).undelivered == ["a"])
    }

    @Test func aValueNeverSentIsUnexpectedAndItsPositionDivergent() {
        var h = HistoryBuilder()
        h.clean("a", at: 0)
        h.add(.recv, "ghost", at: 0)
        let verdict = HistoryChecker().check(h.events)
        #expect(verdict.unexpected == ["ghost"])
        #expect(verdict.divergentOffsets == [h.pos(0)])
    }

    @Test func anIndeterminateSendThatWasStoredIsRecoveredNotAViolation() {
        var h = HistoryBuilder()
        h.add(.invoke, "a")
        h.add(.info, "a")
        h.add(.recv, "a", at: 0)
        h.add(.scan, "a", at: 0)
        let verdict = HistoryChecker().check(h.events)
        #expect(verdict.recovered == 1 && verdict.violationCount == 0 && verdict.failedButStored.isEmpty)
    }

    @Test func aDefiniteFailureThatWasStoredIsReported() {
        var h = HistoryBuilder()
        h.add(.invoke, "a")
        h.add(.fail, "a")
        h.add(.recv, "a", at: 0)
        h.add(.scan, "a", at: 0)
        #expect(HistoryChecker().check(h.events).failedButStored == ["a"])
    }

    @Test func duplicatesAreExplainedOnlyByARetry() {
        var retried = HistoryBuilder()
        retried.add(.invoke, "a")
        retried.add(.info, "a")
        retried.add(.invoke, "a")
        retried.add(.ok, "a", at: 1)
        for offset: Int64 in [0, 1] {
            retried.add(.recv, "a", at: offset)
            retried.add(.scan, "a", at: offset)
        }
        let explained = HistoryChecker().check(retried.events)
        #expect(explained.duplicates == 1 && explained.violationCount == 0)

        var single = HistoryBuilder()
        single.add(.invoke, "a")
        single.add(.ok, "a", at: 0)
        for offset: Int64 in [0, 1] {
            single.add(.recv, "a", at: offset)
            single.add(.scan, "a", at: offset)
        }
        #expect(HistoryChecker().check(single.events).unexplainedDuplicates == ["a"])
    }

    @Test func redeliveryAtTheSamePositionIsCountedNotFailed() {
        var h = HistoryBuilder()
        h.clean("a", at: 0)
        h.add(.recv, "a", at: 0)
        let verdict = HistoryChecker().check(h.events)
        #expect(verdict.redelivered == 1 && verdict.violationCount == 0)
    }

    @Test func anAckAtAnotherPositionThanTheStoredOneIsAMismatch() {
        var h = HistoryBuilder()
        h.add(.invoke, "a")
        h.add(.ok, "a", at: 3)
        h.add(.recv, "a", at: 0)
        h.add(.scan, "a", at: 0)
        #expect(HistoryChecker().check(h.events).ackPositionMismatches == ["a"])
    }

    @Test func aMissingOffsetInsideAQueueIsAGap() {
        var h = HistoryBuilder()
        h.clean("a", at: 0)
        h.clean("b", at: 2)
        #expect(HistoryChecker().check(h.events).gaps == [h.pos(1)])
    }

    @Test func reorderedStorageOrConsumptionOfAKeyIsAnOrderViolation() {
        var stored = HistoryBuilder()
        stored.clean("k-1", key: "k", at: 1)
        stored.clean("k-2", key: "k", at: 0)
        #expect(HistoryChecker().check(stored.events).orderViolations == ["k@T/g/0: stored order breaks at k-2"])

        var consumed = HistoryBuilder()
        for (val, offset) in [("k-1", 0), ("k-2", 1)] as [(String, Int64)] {
            consumed.add(.invoke, val, key: "k")
            consumed.add(.ok, val, key: "k", at: offset)
            consumed.add(.scan, val, key: "k", at: offset)
        }
        consumed.add(.recv, "k-2", key: "k", at: 1)
        consumed.add(.recv, "k-1", key: "k", at: 0)
        #expect(HistoryChecker().check(consumed.events).orderViolations == ["k@T/g/0: consumed order breaks at k-2"])
    }

    /// A key whose group lost its master hashes to another group's queue for a while: order
    /// holds per queue, and only there (found by a two-group chaos run).
    @Test func aKeyThatMovedToAnotherQueueIsCheckedPerQueue() {
        var h = HistoryBuilder()
        h.clean("k-0", key: "k", at: 5, queue: 3)
        h.clean("k-1", key: "k", at: 0, queue: 1)
        h.clean("k-2", key: "k", at: 1, queue: 1)
        h.clean("k-3", key: "k", at: 6, queue: 3)
        #expect(HistoryChecker().check(h.events).orderViolations.isEmpty)
        h.clean("k-4", key: "k", at: 4, queue: 3)  // below k-3 in the same queue
        #expect(HistoryChecker().check(h.events).orderViolations == ["k@T/g/3: stored order breaks at k-4"])
    }

    @Test func redeliveryAfterARebalanceKeepsOrder() {
        var h = HistoryBuilder()
        for i in 0..<3 { h.clean("k-\(i)", key: "k", at: Int64(i)) }
        // A second consumer takes the queue over from a committed offset of 1.
        h.add(.recv, "k-1", key: "k", at: 1)
        h.add(.recv, "k-2", key: "k", at: 2)
        #expect(HistoryChecker().check(h.events).orderViolations.isEmpty)
    }

    @Test func orderIgnoresUnacknowledgedValues() {
        var h = HistoryBuilder()
        h.add(.invoke, "k-0", key: "k")
        h.add(.info, "k-0", key: "k")
        h.clean("k-1", key: "k", at: 0)
        h.add(.recv, "k-0", key: "k", at: 1)
        h.add(.scan, "k-0", key: "k", at: 1)
        let verdict = HistoryChecker().check(h.events)
        #expect(verdict.orderViolations.isEmpty && verdict.recovered == 1)
    }

    @Test func positionsOfDifferentTopicsNeverCollide() {
        var h = HistoryBuilder()
        h.clean("a", at: 0)
        h.add(.invoke, "b")
        h.events.append(
            HistoryEvent(t: 9, type: .ok, proc: "p", val: "b", pos: h.pos(0, topic: "U")))
        h.events.append(HistoryEvent(t: 10, type: .recv, proc: "c", val: "b", pos: h.pos(0, topic: "U")))
        h.events.append(HistoryEvent(t: 11, type: .scan, proc: "scan", val: "b", pos: h.pos(0, topic: "U")))
        #expect(HistoryChecker().check(h.events).violationCount == 0)
    }
}

struct AvailabilityTests {
    @Test func rtoRunsFromTheFaultToTheFirstAckOfAnAttemptBegunAfterIt() {
        var h = HistoryBuilder()
        h.t = 0
        h.events.append(HistoryEvent(t: 90, type: .invoke, proc: "p", val: "old"))
        h.fault("kill_leader", .start, at: 100)
        // In flight before the fault and acknowledged after it: does not end the outage.
        h.events.append(HistoryEvent(t: 150, type: .ok, proc: "p", val: "old", pos: h.pos(0)))
        h.events.append(HistoryEvent(t: 200, type: .invoke, proc: "p", val: "new"))
        h.events.append(HistoryEvent(t: 340, type: .ok, proc: "p", val: "new", pos: h.pos(1)))
        h.fault("kill_leader", .end, at: 400)
        let outcomes = Availability.outcomes(h.events)
        #expect(outcomes.count == 1)
        #expect(outcomes[0].rtoMillis == 240)
        #expect(outcomes[0].maxAckGapMillis == 190)
        #expect(outcomes[0].endMillis == 400)
        #expect(outcomes[0].healToAckMillis == nil, "no attempt began after the heal")
    }

    @Test func healToAckRunsFromTheHealToTheFirstAckOfAnAttemptBegunAfterIt() {
        var h = HistoryBuilder()
        h.fault("kill_all", .start, at: 100)
        h.events.append(HistoryEvent(t: 3000, type: .invoke, proc: "p", val: "during"))
        h.fault("kill_all", .end, at: 4000)
        h.events.append(HistoryEvent(t: 4100, type: .invoke, proc: "p", val: "after"))
        h.events.append(HistoryEvent(t: 4500, type: .ok, proc: "p", val: "during", pos: h.pos(0)))
        h.events.append(HistoryEvent(t: 4700, type: .ok, proc: "p", val: "after", pos: h.pos(1)))
        let outcome = Availability.outcomes(h.events)[0]
        #expect(outcome.rtoMillis == 4400)
        #expect(outcome.healToAckMillis == 700)
    }

    @Test func aFaultWithNoAckAfterItHasNoRTOAndAGapToTheEnd() {
        var h = HistoryBuilder()
        h.fault("pause_leader", .start, at: 10)
        h.events.append(HistoryEvent(t: 20, type: .invoke, proc: "p", val: "a"))
        h.events.append(HistoryEvent(t: 500, type: .info, proc: "p", val: "a"))
        let outcome = Availability.outcomes(h.events)[0]
        #expect(outcome.rtoMillis == nil && outcome.maxAckGapMillis == 490)
    }

    @Test func percentilesUseTheNearestRank() {
        #expect(Availability.percentile([5, 1, 3, 2, 4], 0.5) == 3)
        #expect(Availability.percentile([5, 1, 3, 2, 4], 1) == 5)
        #expect(Availability.percentile([], 0.5) == nil)
    }
}

struct FaultScheduleTests {
    @Test func theSameSeedGivesTheSameScheduleAndEveryKindAppearsEvenly() throws {
        let kinds = try FaultKind.parseList("kill,pause")
        let a = FaultSchedule(seed: 7, kinds: kinds, count: 10, holdMillis: 1000...3000)
        let b = FaultSchedule(seed: 7, kinds: kinds, count: 10, holdMillis: 1000...3000)
        let c = FaultSchedule(seed: 8, kinds: kinds, count: 10, holdMillis: 1000...3000)
        #expect(a.cycles == b.cycles)
        #expect(a.cycles != c.cycles)
        let firstRound = Set(a.cycles.prefix(5).map(\.kind))
        #expect(firstRound == Set(kinds))
        #expect(a.cycles.allSatisfy { (1000...3000).contains($0.holdMillis) })
    }

    @Test func faultListsExpandFamiliesAndRejectUnknownNames() throws {
        #expect(try FaultKind.parseList("pause, kill_leader,pause") == [.pauseLeader, .killLeader])
        #expect(try FaultKind.parseList("all").count == FaultKind.allCases.count)
        #expect(throws: FaultListError.self) { try FaultKind.parseList("kill,explode") }
        #expect(throws: FaultListError.self) { try FaultKind.parseList("") }
    }
}

struct RunSummaryTests {
    @Test func theJSONLineCarriesTheCountsAndFailsOnAnyViolation() {
        var h = HistoryBuilder()
        h.fault("kill_leader", .start, at: 1)
        h.clean("a", at: 0)
        h.fault("kill_leader", .end, at: 50)
        h.add(.invoke, "b")
        h.add(.ok, "b", at: 1)
        let verdict = HistoryChecker().check(h.events)
        let summary = RunSummary(
            seed: 1, cycles: 1, verdict: verdict, outcomes: Availability.outcomes(h.events), divergentReplicas: 0,
            runnerErrors: [])
        #expect(!summary.passed)
        #expect(summary.jsonLine.hasPrefix("{\"cycles\":1,\"faults\":{\"kill_leader\":1},\"acked\":2,\"lost\":1,"))
        #expect(summary.jsonLine.contains("\"rto_ms\":{\"p50\":2,\"p99\":2,\"max\":2}"))
        let report = RunReport.render(summary, command: "chaos/run.sh", timeline: "timeline.svg")
        #expect(report.contains("# Chaos run: FAILED") && report.contains("- `b`"))
        let svg = TimelineSVG.render(h.events, outcomes: summary.outcomes, title: "t")
        #expect(svg.hasPrefix("<svg") && svg.contains("kill_leader") && svg.hasSuffix("</svg>\n"))
    }
}
