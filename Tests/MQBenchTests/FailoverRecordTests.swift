import Testing

@testable import mqbench

struct FailoverRecordTests {
    @Test func unavailabilityCountsOnlyAttemptsSentAfterTheKill() {
        var record = FailoverRecord()
        record.recordAck(id: 1, attemptSentNanos: 0, ackNanos: 10)
        record.recordKill(atNanos: 100)
        // In flight at the kill, acknowledged late: not the end of the outage.
        record.recordAck(id: 2, attemptSentNanos: 90, ackNanos: 150)
        record.recordAck(id: 3, attemptSentNanos: 400, ackNanos: 700)
        record.recordAck(id: 4, attemptSentNanos: 300, ackNanos: 650)
        record.recordAck(id: 4, attemptSentNanos: 310, ackNanos: 660)
        #expect(record.unavailabilityNanos == 550)
        #expect(record.maxAckGapAfterKillNanos == 500)
        #expect(record.duplicateAcks == 1 && record.acked.count == 4)
    }

    @Test func noKillOrNoAckAfterItMeansNoFigures() {
        var record = FailoverRecord()
        record.recordAck(id: 1, attemptSentNanos: 0, ackNanos: 10)
        #expect(record.unavailabilityNanos == nil && record.maxAckGapAfterKillNanos == nil)
        record.recordKill(atNanos: 20)
        #expect(record.unavailabilityNanos == nil && record.maxAckGapAfterKillNanos == nil)
    }

    @Test func verifyFindsLostAcknowledgedIdsAndDuplicates() {
        let result = FailoverRecord.verify(acked: [1, 2, 3, 4], stored: [1, 2, 2, 4, 5, 5, 5])
        #expect(result.lost == 1 && result.duplicates == 3)
    }
}
