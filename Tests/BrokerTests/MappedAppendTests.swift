import Common
import NIOCore
import Storage
import Testing

/// Segment files appended through a mapping (`mappedAppends`, the ConsumeQueues) hold exactly
/// what `pwrite` appends would, across reservation chunks, truncation and reopening.
struct MappedAppendTests {
    /// Appends pieces of 1 to 997 bytes until the file is full; returns what was appended.
    func fill(_ file: MappedFile) throws -> [UInt8] {
        var written: [UInt8] = []
        var size = 1
        while file.remaining > 0 {
            let piece = (0..<min(size, file.remaining)).map { UInt8(truncatingIfNeeded: written.count + $0 * 7) }
            try file.append(ByteBuffer(bytes: piece))
            written += piece
            size = size * 3 % 997 + 1
        }
        return written
    }

    @Test func mappedAppendsMatchWrittenAppendsAndSurviveReopening() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        // Larger than a reservation chunk, so appends cross several.
        let size = 3 * (1 << 20) + 12_345
        for name in ["/m", "/w"] { try Directories.create(directory.path + name) }
        let mapped = try MappedFile(
            directory: directory.path + "/m", fileFromOffset: 0, fileSize: size, mappedAppends: true)
        let written = try MappedFile(directory: directory.path + "/w", fileFromOffset: 0, fileSize: size)
        let expected = try fill(written)
        #expect(try fill(mapped) == expected)
        #expect(Array(try mapped.read(at: 0, count: size).readableBytesView) == expected)
        try mapped.flush()
        let reopened = try MappedFile(directory: directory.path + "/m", fileFromOffset: 0, fileSize: size)
        #expect(Array(try reopened.read(at: 0, count: size).readableBytesView) == expected)
    }

    @Test func appendsAfterATruncationReplaceTheCutBytes() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try MappedFile(directory: directory.path, fileFromOffset: 0, fileSize: 1 << 16, mappedAppends: true)
        try file.append(ByteBuffer(bytes: [UInt8](repeating: 1, count: 5000)))
        try file.truncate(to: 1000)
        try file.append(ByteBuffer(bytes: [UInt8](repeating: 2, count: 100)))
        let bytes = Array(try file.read(at: 0, count: 1 << 16).readableBytesView)
        #expect(bytes[..<1000].allSatisfy { $0 == 1 } && bytes[1000..<1100].allSatisfy { $0 == 2 })
        #expect(bytes[1100...].allSatisfy { $0 == 0 }, "the cut tail reads as zeros")
        #expect(file.wrotePosition == 1100)
    }
}
