import Foundation
import PlaidCore
import PlaidKernels

/// Reading and writing the small components (centroids, document lengths and ids, deletion bitmaps).
enum IndexStorage {
    /// zstd is kept only where it saves at least this fraction of a component's bytes.
    static let minimumZstdSaving = 0.10

    /// Writes `[count, dim]` centroids as float16. Centroids are unit vectors: float16 keeps 11
    /// significant bits, far finer than a 1–4-bit residual, and halves the largest fixed cost of
    /// a small index.
    static func writeCentroids(_ centroids: [Float], path: String) throws {
        var halves = [UInt8]()
        halves.reserveCapacity(centroids.count * 2)
        for v in centroids { let b = Float16(v).bitPattern; halves.append(UInt8(b & 0xFF)); halves.append(UInt8(b >> 8)) }
        try writeCompressingIfItPays(path: path, component: .centroids, payload: halves)
    }

    static func readCentroids(path: String, count k: Int, dim: Int, verifyChecksum: Bool) throws -> [Float] {
        let reader = try ComponentReader(path: path, component: .centroids, size: .exactly(k * dim * 2), verifyChecksum: verifyChecksum)
        guard reader.payload.count == k * dim * 2 else {
            throw PlaidError.corruptIndex(file: path, detail: "holds \(reader.payload.count) payload bytes, \(k) centroids of dimension \(dim) need \(k * dim * 2)")
        }
        guard k * dim > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: k * dim) { out, initialized in
            plaid_float16_to_float32(reader.payload.baseAddress!, out.baseAddress!, k * dim)
            initialized = k * dim
        }
    }

    /// Writes a segment's document lengths and ids into its directory; returns the ids' UTF-8
    /// bytes, which the manifest records (`SegmentInfo.documentIDBytes`).
    @discardableResult
    static func writeDocuments(directory: String, lengths documentLengths: [Int], ids documentIDs: [String]) throws -> Int {
        var lengths = [UInt8]()
        lengths.reserveCapacity(documentLengths.count * 4)
        for n in documentLengths { withUnsafeBytes(of: UInt32(n).littleEndian) { lengths.append(contentsOf: $0) } }
        try writeCompressingIfItPays(path: (directory as NSString).appendingPathComponent(IndexComponent.documentLengths.fileName),
                                     component: .documentLengths, payload: lengths)
        var ids = [UInt8]()
        withUnsafeBytes(of: UInt32(documentIDs.count).littleEndian) { ids.append(contentsOf: $0) }
        for id in documentIDs {
            let utf8 = Array(id.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { ids.append(contentsOf: $0) }
            ids.append(contentsOf: utf8)
        }
        try writeCompressingIfItPays(path: (directory as NSString).appendingPathComponent(IndexComponent.documentIDs.fileName),
                                     component: .documentIDs, payload: ids)
        return ids.count - 4 - 4 * documentIDs.count
    }

    /// Writes a deletion bitmap (one bit per document, bit d of word d/64) as a component file.
    static func writeDeletions(_ bitmap: [UInt64], path: String) throws {
        let writer = try ComponentWriter(path: path, component: .deletions)
        try writer.append(contentsOf: bitmap.map(\.littleEndian))
        _ = try writer.finishRaw()
    }

    /// The decoded size of a segment's ids file: exact where the manifest records the ids' bytes;
    /// for a segment written before it did, bounded by the file's own zstd frame alone.
    static func documentIDsSize(_ info: SegmentInfo) -> PayloadSize {
        if let bytes = info.documentIDBytes { return .exactly(4 + 4 * info.documentCount + bytes) }
        return .atMost(Int.max)
    }

    static func writeCompressingIfItPays(path: String, component: IndexComponent, payload: [UInt8]) throws {
        let compressed = try payload.withUnsafeBytes { try Zstd.compress($0, level: 9) }
        let pays = Double(compressed.count) <= Double(payload.count) * (1 - minimumZstdSaving)
        _ = try ComponentWriter.write(path: path, component: component, payload: payload, compress: pays)
    }

    static func readDocumentIDs(_ reader: ComponentReader, expected: Int) throws -> [String] {
        let p = reader.payload
        let file = reader.path
        guard p.count >= 4 else { throw PlaidError.corruptIndex(file: file, detail: "too short") }
        let n = Int(p.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard n == expected else { throw PlaidError.corruptIndex(file: file, detail: "holds \(n) ids, metadata says \(expected) documents") }
        var ids: [String] = []
        ids.reserveCapacity(n)
        var offset = 4
        for _ in 0..<n {
            guard offset + 4 <= p.count else { throw PlaidError.corruptIndex(file: file, detail: "truncated") }
            let length = Int(p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            offset += 4
            guard offset + length <= p.count else { throw PlaidError.corruptIndex(file: file, detail: "truncated") }
            ids.append(String(decoding: UnsafeRawBufferPointer(rebasing: p[offset..<offset + length]), as: UTF8.self))
            offset += length
        }
        return ids
    }
}
