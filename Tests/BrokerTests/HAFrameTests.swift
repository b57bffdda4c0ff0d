import NIOCore
import Testing

@testable import Broker

struct HAFrameTests {
    @Test func reportsAreReadWhenWholeAndOnlyTheLatestCounts() throws {
        var reader = HAReportReader()
        var first = ByteBuffer()
        first.writeInteger(Int64(100))
        first.writeBytes([0, 0, 0])  // the start of the next report
        #expect(try reader.receive(&first) == 100)
        var rest = ByteBuffer()
        rest.writeBytes([0, 0, 0, 0, 200])
        rest.writeInteger(Int64(300))
        #expect(try reader.receive(&rest) == 300)
        var partial = ByteBuffer(bytes: [0, 0])
        #expect(try reader.receive(&partial) == nil)
    }

    @Test func aNegativeReportIsAProtocolError() {
        var reader = HAReportReader()
        var garbage = ByteBuffer(bytes: [UInt8](repeating: 0xFF, count: 8))
        #expect(throws: HAProtocolError.negativeOffset(-1)) { try reader.receive(&garbage) }
    }

    @Test func transferFramesSurviveAnySplitOfTheStream() throws {
        let body = ByteBuffer(bytes: Array(0..<200).map { UInt8($0 % 256) })
        var stream = HAFrame.transfer(offset: 4096, body: body)
        stream.writeImmutableBuffer(HAFrame.transfer(offset: 4296, body: nil))
        let bytes = Array(stream.readableBytesView)
        for split in [1, 5, 12, 13, 150, bytes.count - 1] {
            var reader = HATransferReader(maxBodySize: 1024)
            var frames: [(HAFrame.Header, ByteBuffer)] = []
            for chunk in [bytes[..<split], bytes[split...]] {
                var buffer = ByteBuffer(bytes: chunk)
                reader.receive(&buffer)
                while let frame = try reader.next() { frames.append(frame) }
            }
            #expect(frames.map(\.0) == [.init(offset: 4096, size: 200), .init(offset: 4296, size: 0)])
            #expect(frames.first?.1 == body)
        }
    }

    @Test func anOversizeOrNegativeFrameIsRefusedBeforeItIsBuffered() {
        var reader = HATransferReader(maxBodySize: 1024)
        var header = ByteBuffer()
        header.writeInteger(Int64(0))
        header.writeInteger(Int32(1_000_000))
        reader.receive(&header)
        #expect(throws: HAProtocolError.badFrameSize(1_000_000, limit: 1024)) { try reader.next() }
        var negative = HATransferReader(maxBodySize: 1024)
        var frame = HAFrame.transfer(offset: -7, body: ByteBuffer(bytes: [1]))
        negative.receive(&frame)
        #expect(throws: HAProtocolError.negativeOffset(-7)) { try negative.next() }
    }

    @Test func theDivergedMarkerIsAnEmptyFrame() throws {
        var reader = HATransferReader(maxBodySize: 1024)
        var marker = HAFrame.transfer(offset: HAFrame.divergedMarker, body: nil)
        reader.receive(&marker)
        #expect(try reader.next()?.header == .init(offset: HAFrame.divergedMarker, size: 0))
    }
}
