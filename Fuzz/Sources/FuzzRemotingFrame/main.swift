import NIOCore
import Remoting

#if canImport(Glibc)
    import Glibc
#endif

/// One input: a byte stream of frames. Parsing may succeed, ask for more or throw a typed
/// error; it must never trap. Each decoded header's values also go through the checked
/// integer helper, as every request processor reads them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    while true {
        let command: RemotingCommand?
        do {
            command = try RemotingCommand.parseFrame(from: &buffer, maxFrameLength: 1 << 20)
        } catch {
            return 0
        }
        guard let command else { return 0 }
        for key in command.extFields.keys {
            _ = try? command.integer(key, as: Int32.self)
            _ = try? command.optionalInteger(key, default: Int64(0), in: 0...Int64.max)
        }
        _ = command.frameBytes()
    }
}

/// libFuzzer's entry point when the program has its own `main` (Swift's).
@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(llvmFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
