import Foundation
import PlaidCore
import PlaidKernels

/// Assigns token vectors to their nearest centroid and codes their residuals, a chunk of whole
/// documents at a time, reusing its buffers: `[chunk tokens, dim]` floats, codes and packed bytes.
struct ChunkEncoder {
    let quantizer: CoarseQuantizer
    let codec: ResidualCodec
    private(set) var vectors: [Float] = []
    private(set) var codes: [Int32] = []
    private(set) var packed: [UInt8] = []
    /// Squared distance of each token of the last chunk to its centroid, in `distancesOnly` mode
    /// or when counting outliers.
    private(set) var distances: [Float] = []
    /// When set, `encode` counts the tokens farther (squared) than this from their centroid.
    var outlierDistance: Float?
    /// Tokens beyond `outlierDistance` in the chunks encoded so far.
    private(set) var outlierTokens = 0

    /// Tokens whose residuals one work item codes.
    static let residualBlock = 4_096

    init(quantizer: CoarseQuantizer, codec: ResidualCodec) {
        self.quantizer = quantizer
        self.codec = codec
    }

    /// Reads the documents `chunk` of `source` into `vectors`, assigns them to centroids (or takes
    /// `assigned`, the chunk's codes from an earlier pass with the same centroids) and codes their
    /// residuals; returns the token count. With `distancesOnly` (the first pass of codebook
    /// growth) it fills `distances` instead of the residual codes.
    @discardableResult
    mutating func encode(_ source: DocumentEmbeddingSource, documents chunk: Range<Int>, distancesOnly: Bool = false,
                         assigned: ArraySlice<Int32>? = nil) throws -> Int {
        let dim = quantizer.dim
        let start = source.offsets[chunk.lowerBound]
        let count = source.offsets[chunk.upperBound] - start
        if count > codes.count {
            vectors = [Float](repeating: 0, count: count * dim)
            codes = [Int32](repeating: 0, count: count)
            packed = [UInt8](repeating: 0, count: count * codec.bytesPerVector)
        }
        let measuring = distancesOnly || outlierDistance != nil
        if measuring && distances.count < count { distances = [Float](repeating: 0, count: count) }
        try vectors.withUnsafeMutableBufferPointer { v in
            try source.copyTokens(start: start, count: count, into: v.baseAddress!)
            if let assigned {
                precondition(assigned.count == count, "one code per token of the chunk")
                codes.replaceSubrange(0..<count, with: assigned)
            } else {
                codes.withUnsafeMutableBufferPointer { quantizer.assign(v.baseAddress!, count: count, into: $0.baseAddress!) }
            }
            if measuring {
                Self.measureDistances(v.baseAddress!, codes: codes, count: count, centroids: quantizer.centroids, dim: dim, into: &distances)
            }
            if let threshold = outlierDistance { outlierTokens += distances[0..<count].lazy.filter { $0 > threshold }.count }
            if !distancesOnly {
                Self.codeResiduals(v.baseAddress!, codes: codes, count: count, centroids: quantizer.centroids, codec: codec, into: &packed)
            }
        }
        return count
    }

    /// Packs the residual codes of `count` tokens into `packed`, on all cores (each token's bytes
    /// are its own).
    private static func codeResiduals(_ vectors: UnsafePointer<Float>, codes: [Int32], count: Int, centroids: [Float],
                                      codec: ResidualCodec, into packed: inout [UInt8]) {
        let dim = codec.dim, bytesPerVector = codec.bytesPerVector, nbits = Int32(codec.nbits)
        let blocks = (count + residualBlock - 1) / residualBlock
        centroids.withUnsafeBufferPointer { centroids in
            codec.cutoffs.withUnsafeBufferPointer { cutoffs in
                codes.withUnsafeBufferPointer { assigned in
                    packed.withUnsafeMutableBufferPointer { out in
                        Parallel.forEach(blocks) { b in
                            let first = b * residualBlock, last = min(count, first + residualBlock)
                            plaid_encode_residuals(vectors + first * dim, assigned.baseAddress! + first, centroids.baseAddress!,
                                                   last - first, dim, cutoffs.baseAddress!, nbits, out.baseAddress! + first * bytesPerVector)
                        }
                    }
                }
            }
        }
    }

    /// Each of `count` tokens' squared distance to its centroid, into `distances`.
    private static func measureDistances(_ vectors: UnsafePointer<Float>, codes: [Int32], count: Int, centroids: [Float], dim: Int,
                                         into distances: inout [Float]) {
        for t in 0..<count {
            let c = Int(codes[t]), row = vectors + t * dim
            var squared: Float = 0
            for j in 0..<dim {
                let r = row[j] - centroids[c * dim + j]
                squared += r * r
            }
            distances[t] = squared
        }
    }
}
