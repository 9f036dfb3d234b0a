import Foundation
import PlaidCore

/// An index opened for search. The codes, residuals and inverted lists are used in place through
/// memory maps; only the centroids, document lengths and ids are decoded into memory.
public final class CompressedIndex: @unchecked Sendable {
    public let path: String
    public let metadata: IndexMetadata
    public let quantizer: CoarseQuantizer
    public let codec: ResidualCodec
    public let decoder: ResidualDecoder
    public let invertedLists: InvertedLists
    public let documentIDs: [String]
    public let documentLengths: [Int]
    /// offsets[d] is document d's first token; offsets[documentCount] is the token count.
    public let documentOffsets: [Int]
    /// Bytes of every file of the index.
    public let bytesOnDisk: Int
    let codes: ComponentReader
    let residuals: ComponentReader
    private let lists: ComponentReader

    public var documentCount: Int { metadata.documentCount }
    public var dim: Int { metadata.dim }

    /// Opens the index at `path`, checking every file's magic, version, size and (by default)
    /// checksum; a damaged or foreign file is reported by name.
    public init(path: String, verifyChecksums: Bool = true) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PlaidError.missingFile(path: path, hint: "Build an index there first with `plaid build`.")
        }
        func open(_ c: IndexComponent) throws -> ComponentReader {
            try ComponentReader(directory: path, component: c, verifyChecksum: verifyChecksums)
        }
        let meta = try open(.metadata)
        let metaFile = (path as NSString).appendingPathComponent(IndexComponent.metadata.fileName)
        guard let metadata = try? JSONDecoder().decode(IndexMetadata.self, from: Data(meta.payload)) else {
            throw PlaidError.corruptIndex(file: metaFile, detail: "the metadata is not valid JSON of this format version")
        }
        let buckets = 1 << max(0, min(metadata.nbits, 8))
        guard metadata.dim > 0, metadata.dim % 8 == 0, ResidualCodec.supportedBits.contains(metadata.nbits),
              metadata.centroidCount > 0, metadata.documentCount >= 0, metadata.tokenCount >= 0,
              metadata.codeWidth == IndexMetadata.codeWidth(forCentroids: metadata.centroidCount),
              metadata.bucketCutoffs.count == buckets - 1, metadata.bucketWeights.count == buckets else {
            throw PlaidError.corruptIndex(file: metaFile, detail: "the metadata fields are inconsistent (dim \(metadata.dim), nbits \(metadata.nbits), \(metadata.centroidCount) centroids, code width \(metadata.codeWidth))")
        }
        self.metadata = metadata
        let dim = metadata.dim, k = metadata.centroidCount, n = metadata.documentCount
        func file(_ c: IndexComponent) -> String { (path as NSString).appendingPathComponent(c.fileName) }
        func expect(_ r: ComponentReader, bytes: Int) throws {
            guard r.payload.count == bytes else {
                throw PlaidError.corruptIndex(file: file(r.component), detail: "holds \(r.payload.count) payload bytes, the metadata implies \(bytes)")
            }
        }
        let centroidReader = try open(.centroids)
        try expect(centroidReader, bytes: k * dim * 2)
        let centroids = (0..<k * dim).map { Float(Float16(bitPattern: centroidReader.payload.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
        quantizer = CoarseQuantizer(centroids: centroids, dim: dim)
        codec = ResidualCodec(dim: dim, nbits: metadata.nbits, cutoffs: metadata.bucketCutoffs, weights: metadata.bucketWeights)
        decoder = ResidualDecoder(codec: codec, quantizer: quantizer)
        let lengthReader = try open(.documentLengths)
        try expect(lengthReader, bytes: n * 4)
        documentLengths = (0..<n).map { Int(lengthReader.payload.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        var offsets = [0]
        offsets.reserveCapacity(n + 1)
        for length in documentLengths { offsets.append(offsets.last! + length) }
        documentOffsets = offsets
        guard offsets.last! == metadata.tokenCount else {
            throw PlaidError.corruptIndex(file: file(.documentLengths), detail: "the lengths add up to \(offsets.last!) tokens, the metadata says \(metadata.tokenCount)")
        }
        documentIDs = try IndexStorage.readDocumentIDs(try open(.documentIDs), expected: n)
        codes = try open(.codes)
        try expect(codes, bytes: metadata.tokenCount * metadata.codeWidth)
        residuals = try open(.residuals)
        try expect(residuals, bytes: metadata.tokenCount * codec.bytesPerVector)
        lists = try open(.invertedLists)
        invertedLists = try InvertedLists(payload: lists.payload, listCount: k, documentCount: n, file: file(.invertedLists))
        // A code naming a centroid that does not exist would make search read out of bounds.
        let maxCode = CompressedIndex.largestCode(codes.payload, width: metadata.codeWidth)
        guard maxCode < k else {
            throw PlaidError.corruptIndex(file: file(.codes), detail: "holds centroid id \(maxCode) but the index has \(k) centroids")
        }
        bytesOnDisk = IndexComponent.allCases.reduce(0) { total, c in
            total + ((try? FileManager.default.attributesOfItem(atPath: file(c))[.size] as? Int) ?? 0)
        }
    }

    static func largestCode(_ payload: UnsafeRawBufferPointer, width: Int) -> Int {
        var largest = 0
        switch width {
        case 1: for b in payload { largest = max(largest, Int(b)) }
        case 2: for i in 0..<payload.count / 2 { largest = max(largest, Int(payload.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        default: for i in 0..<payload.count / 4 { largest = max(largest, Int(payload.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        }
        return largest
    }

    /// Pointer to document d's centroid codes (`metadata.codeWidth` bytes each).
    @inline(__always)
    func codes(ofDocument d: Int) -> UnsafeRawPointer {
        codes.payload.baseAddress! + documentOffsets[d] * metadata.codeWidth
    }

    /// Pointer to document d's packed residuals.
    @inline(__always)
    func residuals(ofDocument d: Int) -> UnsafePointer<UInt8> {
        (residuals.payload.baseAddress! + documentOffsets[d] * codec.bytesPerVector).assumingMemoryBound(to: UInt8.self)
    }

    /// Decodes document d's token vectors ([length, dim]).
    public func reconstruct(document d: Int) -> [Float] {
        let n = documentLengths[d]
        var out = [Float](repeating: 0, count: n * dim)
        out.withUnsafeMutableBufferPointer {
            decoder.decode(packed: residuals(ofDocument: d), codes: codes(ofDocument: d), codeWidth: metadata.codeWidth, count: n, into: $0.baseAddress!)
        }
        return out
    }
}
