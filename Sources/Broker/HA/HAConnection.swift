import Common
import NIOCore

/// One slave's connection on the master (RocketMQ's `HAConnection`): its reports are read on
/// one task, the CommitLog is streamed on another, and a third closes the connection when the
/// slave falls silent for `haHousekeepingInterval`.
extension HAService {
    /// Serves one slave until it disconnects, misbehaves or falls silent.
    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let id = nextConnectionID.add(1, ordering: .relaxed).newValue
        let peer = connection.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        let liveness = HALiveness(limitMillis: settings.housekeepingMillis)
        let (starts, startInput) = AsyncStream.makeStream(of: HAStart.self, bufferingPolicy: .bufferingNewest(1))
        logger.info("HA connection \(id) from slave \(peer)")
        defer { acknowledgements.disconnected(connection: id) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var reader = HAReportReader()
                        var started = false
                        for try await var bytes in inbound {
                            liveness.heard()
                            guard let offset = try reader.receive(&bytes) else { continue }
                            let masterEnd = self.store.commitLogMaxOffset
                            if !started {
                                // The first report says where to start; it also acknowledges
                                // what the slave holds, so a SYNC_MASTER counts it at once.
                                started = true
                                let start = self.startingPoint(slaveEnd: offset, masterEnd: masterEnd)
                                startInput.yield(start)
                                guard case .at = start else { continue }
                            } else if offset > masterEnd {
                                throw HAConnectionError.ackBeyondEnd(offset, masterEnd: masterEnd)
                            }
                            self.acknowledgements.acknowledged(connection: id, through: offset)
                        }
                        throw HAConnectionError.closedByPeer
                    }
                    group.addTask {
                        guard let start = await starts.first(where: { _ in true }) else { return }
                        try await self.stream(from: start, to: outbound, connection: id)
                    }
                    group.addTask { try await liveness.watch() }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch HAConnectionError.closedByPeer {
            logger.info("HA connection \(id): slave \(peer) closed it")
        } catch is CancellationError {
        } catch {
            logger.warning("HA connection \(id) from \(peer) closed: \(error)")
        }
    }

    enum HAStart: Sendable {
        case at(Int64)
        case refuse(String)
    }

    /// Where to stream from: where the slave's log ends, or, for an empty slave, where the
    /// master's log starts. A slave whose log is longer than the master's has bytes the master
    /// never had; one that ends before the master's oldest segment cannot be continued.
    func startingPoint(slaveEnd: Int64, masterEnd: Int64) -> HAStart {
        let masterStart = store.commitLogMinOffset
        if slaveEnd == 0 { return .at(masterStart) }
        if slaveEnd > masterEnd {
            return .refuse(
                "the slave's CommitLog ends at \(slaveEnd), past this master's end \(masterEnd): it has bytes this master never had (diverged)"
            )
        }
        if slaveEnd < masterStart {
            return .refuse(
                "the slave's CommitLog ends at \(slaveEnd), before this master's oldest data at \(masterStart): empty the slave's store to copy afresh"
            )
        }
        return .at(slaveEnd)
    }

    /// Streams CommitLog bytes from `start`: whatever is there, then each new write as it lands,
    /// and an empty frame when nothing was sent for `haSendHeartbeatInterval`.
    func stream(from start: HAStart, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, connection id: Int)
        async throws
    {
        var next: Int64
        switch start {
        case .refuse(let reason):
            logger.error("HA connection \(id): \(reason); telling the slave to stop")
            try await outbound.write(HAFrame.transfer(offset: HAFrame.divergedMarker, body: nil))
            throw HAConnectionError.refused
        case .at(let offset): next = offset
        }
        logger.info("HA connection \(id): streaming the CommitLog from \(next)")
        var lastSent = ContinuousClock.now
        while !Task.isCancelled {
            if let chunk = try store.replicaChunk(from: next, maxBytes: settings.transferBatchSize) {
                try await outbound.write(HAFrame.transfer(offset: next, body: chunk))
                next += Int64(chunk.readableBytes)
                lastSent = .now
                continue
            }
            // Short slices: the wait itself does not end when the task is cancelled (shutdown).
            _ = await store.writtenEnd.wait(for: next + 1, timeout: .milliseconds(min(settings.heartbeatMillis, 200)))
            if ContinuousClock.now - lastSent >= settings.heartbeatInterval, store.commitLogMaxOffset <= next {
                try await outbound.write(HAFrame.transfer(offset: next, body: nil))
                lastSent = .now
            }
        }
    }
}

enum HAConnectionError: Error, CustomStringConvertible {
    case closedByPeer
    case ackBeyondEnd(Int64, masterEnd: Int64)
    case silent(millis: Int64)
    case refused

    var description: String {
        switch self {
        case .closedByPeer: "closed by the peer"
        case .ackBeyondEnd(let offset, let end):
            "the peer acknowledged offset \(offset), past the CommitLog's end \(end)"
        case .silent(let millis): "nothing heard for \(millis) ms (haHousekeepingInterval)"
        case .refused: "the slave's log cannot be continued"
        }
    }
}
