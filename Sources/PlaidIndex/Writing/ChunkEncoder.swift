import Foundation
import PlaidCore

/// Assigns token vectors to their nearest centroid and codes their residuals, a chunk of whole
/// documents at a time, reusing its buffers: `[chunk tokens, dim]` floats, codes and packed bytes.
struct ChunkEncoder {
    let quantizer: CoarseQuantizer
    let codec: ResidualCodec
    private(set) var vectors: [Float] = []
    private(set) var codes: [Int32] = []
    private(set) var packed: [UInt8] = []
    /// Squared distance of each token of the last chunk to its centroid, in `distancesOnly` mode.
    private(set) var distances: [Float] = []

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
        if distancesOnly && distances.count < count { distances = [Float](repeating: 0, count: count) }
        try vectors.withUnsafeMutableBufferPointer { v in
            try source.copyTokens(start: start, count: count, into: v.baseAddress!)
            if let assigned {
                precondition(assigned.count == count, "one code per token of the chunk")
                codes.replaceSubrange(0..<count, with: assigned)
            } else {
                codes.withUnsafeMutableBufferPointer { quantizer.assign(v.baseAddress!, count: count, into: $0.baseAddress!) }
            }
            let codec = codec, bytesPerVector = codec.bytesPerVector
            quantizer.centroids.withUnsafeBufferPointer { cen in
                packed.withUnsafeMutableBufferPointer { out in
                    codes.withUnsafeBufferPointer { assigned in
                        distances.withUnsafeMutableBufferPointer { squaredDistances in
                            // Each token's residual is its own: blocks of tokens run on all cores.
                            let blocks = (count + Self.residualBlock - 1) / Self.residualBlock
                            Parallel.forEach(blocks) { b in
                                var residual = [Float](repeating: 0, count: dim)
                                for t in (b * Self.residualBlock)..<min(count, (b + 1) * Self.residualBlock) {
                                    let c = Int(assigned[t])
                                    let row = v.baseAddress! + t * dim
                                    var squared: Float = 0
                                    for j in 0..<dim {
                                        residual[j] = row[j] - cen[c * dim + j]
                                        squared += residual[j] * residual[j]
                                    }
                                    if distancesOnly {
                                        squaredDistances[t] = squared
                                    } else {
                                        codec.encode(residuals: residual, count: 1, into: out.baseAddress! + t * bytesPerVector)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return count
    }
}
