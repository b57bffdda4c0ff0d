import Common
import DLedgerStore
import NIOCore
import Raft
import Testing

struct DLedgerEntryTests {
    static let entry = DLedgerEntry(index: 7, term: 3, pos: 4096, body: Array("a commitlog record".utf8))

    @Test func entryRoundTripsWithDLedgerLayout() throws {
        var bytes = Self.entry.bytes
        #expect(bytes.readableBytes == 48 + 18)
        // DLedger's field offsets: size at 4, index at 8, term at 16, pos at 24 (POS_OFFSET), body length at 44.
        #expect(bytes.getInteger(at: 4, as: Int32.self) == 66)
        #expect(bytes.getInteger(at: 8, as: Int64.self) == 7)
        #expect(bytes.getInteger(at: 16, as: Int64.self) == 3)
        #expect(bytes.getInteger(at: 24, as: Int64.self) == 4096)
        #expect(bytes.getInteger(at: 36, as: Int32.self) == 0, "chainCrc stays reserved")
        #expect(bytes.getInteger(at: 40, as: UInt32.self) == CRC32.checksum(Self.entry.body))
        #expect(bytes.getInteger(at: 44, as: Int32.self) == 18)
        let parsed = try DLedgerEntry.parse(from: &bytes, maxSize: 1 << 20)
        #expect(parsed == Self.entry)
        #expect(bytes.readableBytes == 0)
    }

    @Test func aFlippedBodyBitIsRejectedAndNothingConsumed() {
        var bytes = Self.entry.bytes
        let last = bytes.writerIndex - 1
        bytes.setInteger(bytes.getInteger(at: last, as: UInt8.self)! ^ 0x10, at: last)
        #expect(throws: DLedgerEntryError.bodyCRCMismatch(index: 7)) {
            try DLedgerEntry.parse(from: &bytes, maxSize: 1 << 20)
        }
        #expect(bytes.readerIndex == 0)
    }

    @Test func sizesThatDisagreeOrExceedTheLimitAreRejected() {
        var wrongSize = Self.entry.bytes
        wrongSize.setInteger(Int32(70), at: 4)
        #expect(throws: DLedgerEntryError.badSize(size: 70, bodyLength: 18)) {
            try DLedgerEntry.parse(from: &wrongSize, maxSize: 1 << 20)
        }
        var big = Self.entry.bytes
        #expect(throws: DLedgerEntryError.badSize(size: 66, bodyLength: 18)) {
            try DLedgerEntry.parse(from: &big, maxSize: 60)
        }
        var torn = Self.entry.bytes.getSlice(at: 0, length: 60)!
        #expect(throws: DLedgerEntryError.truncated(needed: 66, have: 60)) {
            try DLedgerEntry.parse(from: &torn, maxSize: 1 << 20)
        }
        var blank = ByteBuffer()
        blank.writeInteger(DLedgerEntry.magicBlank)
        blank.writeRepeatingByte(0, count: 60)
        #expect(throws: DLedgerEntryError.badMagic(-1)) { try DLedgerEntry.parse(from: &blank, maxSize: 1 << 20) }
    }

    /// Seeded random and mutated bytes never trap: an entry parses or a typed error comes back.
    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 0xD1ED)
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        var (parsed, rejected) = (0, 0)
        for round in 0..<5_000 {
            var bytes = round % 2 == 0 ? Array(Self.entry.bytes.readableBytesView) : bytes(rng.next(in: 0..<100))
            if round % 2 == 0 { bytes[rng.next(in: 0..<bytes.count)] ^= UInt8(1 << rng.next(in: 0..<8)) }
            var buffer = ByteBuffer(bytes: bytes)
            do {
                _ = try DLedgerEntry.parse(from: &buffer, maxSize: 1 << 16)
                parsed += 1
            } catch {
                #expect(buffer.readerIndex == 0)
                rejected += 1
            }
        }
        #expect(rejected > 0)
        #expect(parsed < 5_000)
    }

    @Test func indexUnitRoundTripsAndCrossChecks() {
        let unit = DLedgerIndexUnit(of: Self.entry)
        var buffer = ByteBuffer()
        unit.write(into: &buffer)
        #expect(buffer.readableBytes == 32)
        #expect(buffer.getInteger(at: 4, as: Int64.self) == 4096)
        #expect(buffer.getInteger(at: 12, as: Int32.self) == 66)
        let read = DLedgerIndexUnit.read(from: &buffer)
        #expect(read == unit)
        #expect(read?.matches(Self.entry) == true)
        var other = Self.entry
        other.term = 4
        #expect(read?.matches(other) == false)
        var short = ByteBuffer(bytes: [UInt8](repeating: 0, count: 31))
        #expect(DLedgerIndexUnit.read(from: &short) == nil && short.readerIndex == 0)
    }
}
