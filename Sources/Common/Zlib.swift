import CZlib

public enum ZlibError: Error, Sendable, Equatable {
    case corrupt(code: Int32)
    case tooLarge(limit: Int)
}

/// RocketMQ's compression: a zlib stream (RFC 1950) as written by `java.util.zip.Deflater`
/// and by the C++ client. Used for message bodies and compressed broker registrations.
public enum Zlib {
    public static func compress(_ input: [UInt8], level: Int32 = 5) -> [UInt8] {
        var destinationLength = compressBound(uLong(input.count))
        var output = [UInt8](repeating: 0, count: Int(destinationLength))
        let code = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                compress2(destination.baseAddress, &destinationLength, source.baseAddress, uLong(source.count), level)
            }
        }
        precondition(code == Z_OK, "compress2 failed with \(code) for \(input.count) bytes")
        output.removeSubrange(Int(destinationLength)...)
        return output
    }

    /// Inflates a zlib stream; refuses to produce more than `limit` bytes (a zip bomb is an error,
    /// not an allocation).
    public static func decompress(_ input: [UInt8], limit: Int) throws(ZlibError) -> [UInt8] {
        var output: [UInt8] = []
        try inflate(input, limit: limit) { output.append(contentsOf: $0) }
        return output
    }

    /// How many bytes `input` inflates to, without keeping them: the put path's check that a
    /// body flagged compressed is zlib data a consumer can inflate.
    public static func inflatedLength(_ input: [UInt8], limit: Int) throws(ZlibError) -> Int {
        var length = 0
        try inflate(input, limit: limit) { length += $0.count }
        return length
    }

    /// Inflates `input` in 64 KiB chunks handed to `sink`; more than `limit` bytes is an error.
    static func inflate(_ input: [UInt8], limit: Int, sink: (UnsafeBufferPointer<UInt8>) -> Void)
        throws(ZlibError)
    {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt(code: Z_STREAM_ERROR)
        }
        defer { inflateEnd(&stream) }
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var code: Int32 = Z_OK
        var source = input
        let result: ZlibError? = source.withUnsafeMutableBufferPointer { sourcePointer -> ZlibError? in
            stream.next_in = sourcePointer.baseAddress
            stream.avail_in = uInt(sourcePointer.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { chunkPointer -> Int in
                    stream.next_out = chunkPointer.baseAddress
                    stream.avail_out = uInt(chunkPointer.count)
                    code = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return chunkPointer.count - Int(stream.avail_out)
                }
                if code != Z_OK && code != Z_STREAM_END { return .corrupt(code: code) }
                if total + produced > limit { return .tooLarge(limit: limit) }
                total += produced
                chunk.withUnsafeBufferPointer { sink(UnsafeBufferPointer(rebasing: $0[0..<produced])) }
                if code == Z_OK && stream.avail_in == 0 && produced == 0 { return .corrupt(code: Z_BUF_ERROR) }
            } while code != Z_STREAM_END
            return nil
        }
        if let result { throw result }
    }
}

/// CRC32 (IEEE, as `java.util.zip.CRC32`), the BODYCRC of stored messages.
public enum CRC32 {
    public static func checksum<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32 {
        let value =
            bytes.withContiguousStorageIfAvailable { pointer in
                crc32(0, pointer.baseAddress, uInt(pointer.count))
            } ?? Array(bytes).withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        return UInt32(truncatingIfNeeded: value)
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(truncatingIfNeeded: crc32(0, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), uInt(bytes.count)))
    }

    /// RocketMQ stores `crc & 0x7FFFFFFF` so the value fits a positive Java int.
    public static func masked<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int32 {
        masked(checksum(bytes))
    }

    public static func masked(_ checksum: UInt32) -> Int32 { Int32(bitPattern: checksum & 0x7FFF_FFFF) }

    /// The checksum of `first` followed by `secondLength` bytes whose checksum is `second`,
    /// without reading those bytes again (zlib's `crc32_combine`).
    public static func combine(_ first: UInt32, _ second: UInt32, secondLength: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: crc32_combine(uLong(first), uLong(second), .init(secondLength)))
    }
}
