import CZstd
import Foundation

/// One-shot zstd compression and decompression (`ZSTD_compress` / `ZSTD_decompress`).
public enum Zstd {
    /// Compresses `source` at `level` (1…19; 3 is zstd's default).
    public static func compress(_ source: UnsafeRawBufferPointer, level: Int32 = 3) throws -> [UInt8] {
        let bound = ZSTD_compressBound(source.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            ZSTD_compress(dst.baseAddress, bound, source.baseAddress, source.count, level)
        }
        if ZSTD_isError(written) != 0 {
            throw PlaidError.io(path: "<memory>", detail: "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.removeSubrange(written...)
        return out
    }

    /// The decoded size a single frame's header records, or nil when the frame does not record
    /// it or is not a zstd frame (`ZSTD_getFrameContentSize`).
    public static func frameContentSize(_ source: UnsafeRawBufferPointer) -> UInt64? {
        let size = ZSTD_getFrameContentSize(source.baseAddress, source.count)
        // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are the two largest values.
        return size >= UInt64.max - 1 ? nil : size
    }

    /// The most bytes the frames in `source` can decode to, read from their block headers
    /// (`ZSTD_decompressBound`); nil when `source` is not valid zstd.
    public static func decompressBound(_ source: UnsafeRawBufferPointer) -> UInt64? {
        let bound = ZSTD_decompressBound(source.baseAddress, source.count)
        return bound == UInt64.max - 1 ? nil : bound   // ZSTD_CONTENTSIZE_ERROR
    }

    /// Decompresses a frame whose decompressed size is known to be `size` bytes into `destination`.
    /// Throws (with `file` in the message) if the frame is damaged or of another size.
    public static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, file: String) throws {
        let n = ZSTD_decompress(destination.baseAddress, destination.count, source.baseAddress, source.count)
        if ZSTD_isError(n) != 0 {
            throw PlaidError.corruptIndex(file: file, detail: "zstd data cannot be decompressed: \(String(cString: ZSTD_getErrorName(n)))")
        }
        guard n == destination.count else {
            throw PlaidError.corruptIndex(file: file, detail: "zstd data decompressed to \(n) bytes, expected \(destination.count)")
        }
    }
}
