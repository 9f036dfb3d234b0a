// Text collections (`TextCollectionReader`, Sources/PlaidCore/TextCollection.swift): the input is
// the whole file, read three ways: as JSONL, as TSV, and as a zstd-compressed JSONL file
// (`.jsonl.zst`, through `ZstdDecompressingStream`). The line splitter (`LineReader`) is also
// run with a tiny buffer (1 to 16 bytes, from the input's length) so that lines cross refills.
import FuzzSupport
@testable import PlaidCore

/// Hands the input out in pieces of at most `piece` bytes.
final class MemoryStream: ByteStream {
    let path = "memory"
    let bytes: UnsafeBufferPointer<UInt8>
    let piece: Int
    var offset = 0
    init(_ bytes: UnsafeBufferPointer<UInt8>, piece: Int) { self.bytes = bytes; self.piece = piece }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, piece, bytes.count - offset)
        if n > 0 { buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = input(data, size)
    for name in ["input.jsonl", "input.tsv", "input.jsonl.zst"] {
        let path = scratchFile(name, UnsafeRawBufferPointer(bytes))
        guard let reader = try? TextCollectionReader(path: path) else { continue }
        // Stop at the first malformed line, as the callers do.
        while let record = try? reader.next() { _ = record }
    }
    // Lines crossing buffer refills must come out whole, as memchr over the input finds them.
    let lines = LineReader(stream: MemoryStream(bytes, piece: 1 + size % 7), chunk: 1 + size % 16)
    var total = 0
    while let line = try? lines.nextLine() { total += line.count + 1 }
    precondition(total >= size - 3 * (lines.lineNumber + 1) && total <= size + 1, "LineReader lost or invented bytes")
    return 0
}
