import CZstd
import Foundation
#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// A source of bytes read front to back in chunks: a plain file or a zstd-compressed one.
/// `read` fills the start of `buffer` and returns how many bytes it wrote; 0 means the end.
public protocol ByteStream: AnyObject {
    /// The file the bytes come from, for error messages.
    var path: String { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A file read with `read(2)` in the caller's chunk size, so memory stays bounded whatever its size.
public final class FileByteStream: ByteStream {
    public let path: String
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw PlaidError.missingFile(path: path, hint: "Check the path.") }
            throw PlaidError.io(path: path, detail: "cannot open: \(String(cString: strerror(errno)))")
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = systemRead(fd, base, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw PlaidError.io(path: path, detail: "cannot read: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }
}

/// Streaming zstd decompression of another byte stream (`ZSTD_decompressStream`).
/// Concatenated frames decompress as one stream, as the `zstd` tool does. Memory: one input
/// chunk plus the window the frame asks for, at most 2^`maximumWindowLog` bytes (8 MiB or less at the usual
/// levels). The window is named in the frame's header, so without a limit a file of a few bytes could make
/// the reader allocate gigabytes; a frame over the limit (`zstd --long=N`, N > 27) is refused, naming it.
public final class ZstdDecompressingStream: ByteStream {
    public var path: String { source.path }
    private let source: ByteStream
    private let context: OpaquePointer
    private var input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private var sourceFinished = false
    /// Whether the last frame is unfinished: `ZSTD_decompressStream` returns 0 exactly when a frame is complete.
    private var frameOpen = false

    /// The largest window decoded: 2^27 bytes (128 MiB), as the `zstd` tool decodes without `--long`.
    public static let maximumWindowLog = 27

    public init(source: ByteStream) throws {
        guard let dctx = ZSTD_createDCtx() else {
            throw PlaidError.io(path: source.path, detail: "zstd: cannot allocate a decompression context")
        }
        let set = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, Int32(Self.maximumWindowLog))
        if ZSTD_isError(set) != 0 {
            ZSTD_freeDCtx(dctx)
            throw PlaidError.io(path: source.path, detail: "zstd: cannot set the window limit: \(String(cString: ZSTD_getErrorName(set)))")
        }
        self.source = source
        context = dctx
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let outBase = buffer.baseAddress, buffer.count > 0 else { return 0 }
        var output = ZSTD_outBuffer(dst: outBase, size: buffer.count, pos: 0)
        // Loop until some output appears: a call may consume input without producing any. After the
        // source ends, zstd is still called with empty input, to flush what it holds of the last block.
        while output.pos == 0 {
            if inputStart == inputEnd && !sourceFinished {
                inputStart = 0
                inputEnd = try source.read(into: input)
                sourceFinished = inputEnd == 0
            }
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress! + inputStart, size: inputEnd - inputStart, pos: 0)
            let hint = ZSTD_decompressStream(context, &output, &inBuffer)
            if ZSTD_getErrorCode(hint) == ZSTD_error_frameParameter_windowTooLarge {
                let limit = Self.maximumWindowLog
                throw PlaidError.invalidInput(
                    file: path, detail: "a zstd frame asks for a window over 2^\(limit) bytes (made with `zstd --long=N`, N > \(limit)); "
                        + "expected at most 2^\(limit), so that a file's header cannot claim gigabytes of memory. "
                        + "Decompress it first (`zstd -d --long=31 FILE`) or recompress it without --long")
            }
            if ZSTD_isError(hint) != 0 {
                throw PlaidError.invalidInput(
                    file: path, detail: "zstd data cannot be decompressed: \(String(cString: ZSTD_getErrorName(hint)))")
            }
            inputStart += inBuffer.pos
            // A call that neither reads nor writes (the end-of-input probe) returns the next frame's header size
            // hint, not the state of the frame just read, so only calls that did something update the state.
            if inBuffer.pos > 0 || output.pos > 0 { frameOpen = hint != 0 }
            if sourceFinished && output.pos == 0 { break }
        }
        if output.pos == 0 && frameOpen {
            throw PlaidError.invalidInput(
                file: path, detail: "zstd data ends in the middle of a frame (the file is truncated); expected a complete frame")
        }
        return output.pos
    }

    deinit {
        ZSTD_freeDCtx(context)
        input.deallocate()
    }
}

/// Opens `path` for streaming reads, decompressing on the fly when the name ends in `.zst`.
public func openByteStream(path: String) throws -> ByteStream {
    let file = try FileByteStream(path: path)
    return path.hasSuffix(".zst") ? try ZstdDecompressingStream(source: file) : file
}
