import Testing

@testable import Broker

/// SYNC_MASTER puts: SEND_OK only once a slave acknowledged them, and the two statuses stock
/// clients know when it does not.
struct SyncMasterTests {
    func syncMaster(_ directory: TemporaryDirectory, timeout: Duration) throws -> (MessageStore, SlaveAcknowledgements)
    {
        let acknowledgements = SlaveAcknowledgements(fallBehindMax: 1 << 20, timeout: timeout)
        let store = MessageStore(
            config: storeConfig(directory.path), logger: testLogger, slaveAcknowledgements: acknowledgements
        ) { _ in }
        try store.start()
        return (store, acknowledgements)
    }

    @Test func withoutASlaveAPutIsStoredButNotAcknowledged() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let (store, _) = try syncMaster(directory, timeout: .seconds(5))
        let result = await store.putMessages([makeMessage("T", body: "alone")])
        #expect(result.status == .slaveNotAvailable && result.status.isStored)
        #expect(store.maxOffsetInQueue("T", 0) == 1)
    }

    @Test func aPutWaitsForTheSlavesAcknowledgement() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let (store, acknowledgements) = try syncMaster(directory, timeout: .seconds(10))
        acknowledgements.acknowledged(connection: 1, through: 0)
        async let put = store.putMessages([makeMessage("T", body: "copied")])
        // Once the master has written the message, acknowledge it, as a slave would.
        #expect(await store.writtenEnd.wait(for: 1, timeout: .seconds(10)) == .reached)
        acknowledgements.acknowledged(connection: 1, through: store.writtenEnd.reached)
        let result = await put
        #expect(result.status == .putOK)
    }

    @Test func aSlaveThatDoesNotAcknowledgeInTimeGivesFlushSlaveTimeout() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let (store, acknowledgements) = try syncMaster(directory, timeout: .milliseconds(50))
        acknowledgements.acknowledged(connection: 1, through: 0)
        let result = await store.putMessages([makeMessage("T", body: "late")])
        #expect(result.status == .slaveAckTimeout && result.status.responseCode == 12)
        acknowledgements.disconnected(connection: 1)
        #expect(await store.putMessages([makeMessage("T", body: "gone")]).status == .slaveNotAvailable)
    }
}
