import Foundation
import PlaidCore
import PlaidKernels

/// ColBERTv2's residual codec: a token vector is stored as its centroid's id plus, for each
/// dimension, `nbits` bits naming one of 2^nbits buckets of the residual (vector − centroid).
///
/// The bucket cutoffs are the quantiles i/2^b (i = 1…2^b−1) and the bucket weights (the value a
/// bucket decodes to) the quantiles (i+0.5)/2^b of held-out residuals, pooled over all dimensions.
/// Codes are packed tightly, most significant bits first: `dim·nbits/8` bytes per vector.
public struct ResidualCodec: Sendable, Equatable {
    public let dim: Int
    public let nbits: Int
    /// 2^nbits − 1 ascending cutoffs: bucket(x) = number of cutoffs strictly below x.
    public let cutoffs: [Float]
    /// 2^nbits decoded values, one per bucket.
    public let weights: [Float]

    public static let supportedBits = [1, 2, 4]

    public var bytesPerVector: Int { dim * nbits / 8 }
    public var bucketCount: Int { 1 << nbits }

    public init(dim: Int, nbits: Int, cutoffs: [Float], weights: [Float]) {
        precondition(ResidualCodec.supportedBits.contains(nbits) && dim % 8 == 0)
        precondition(cutoffs.count == (1 << nbits) - 1 && weights.count == 1 << nbits)
        self.dim = dim; self.nbits = nbits; self.cutoffs = cutoffs; self.weights = weights
    }

    /// The codec of an index created empty, before its first batch trains one: all buckets
    /// decode to zero. It codes nothing, since such an index has no segments.
    static func untrained(dim: Int, nbits: Int) -> ResidualCodec {
        ResidualCodec(dim: dim, nbits: nbits, cutoffs: [Float](repeating: 0, count: (1 << nbits) - 1),
                      weights: [Float](repeating: 0, count: 1 << nbits))
    }

    /// Fits cutoffs and weights on held-out residuals ([n, dim] flattened).
    public static func train(residuals: [Float], dim: Int, nbits: Int) -> ResidualCodec {
        precondition(!residuals.isEmpty)
        let sorted = residuals.sorted()
        let buckets = 1 << nbits
        func quantile(_ q: Double) -> Float {
            // Linear interpolation between order statistics, as torch.quantile does.
            let position = q * Double(sorted.count - 1)
            let lower = Int(position.rounded(.down))
            let upper = min(lower + 1, sorted.count - 1)
            let t = Float(position - Double(lower))
            return sorted[lower] + (sorted[upper] - sorted[lower]) * t
        }
        let cutoffs = (1..<buckets).map { quantile(Double($0) / Double(buckets)) }
        let weights = (0..<buckets).map { quantile((Double($0) + 0.5) / Double(buckets)) }
        return ResidualCodec(dim: dim, nbits: nbits, cutoffs: cutoffs, weights: weights)
    }

    /// Packs the residuals of `count` vectors ([count, dim]) into `out` ([count, bytesPerVector]).
    public func encode(residuals: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt8>) {
        let perByte = 8 / nbits
        let bytes = bytesPerVector
        for t in 0..<count {
            let r = residuals + t * dim
            let o = out + t * bytes
            for b in 0..<bytes {
                var byte: UInt8 = 0
                for k in 0..<perByte {
                    byte = (byte << UInt8(nbits)) | UInt8(bucket(of: r[b * perByte + k]))
                }
                o[b] = byte
            }
        }
    }

    @inline(__always)
    func bucket(of x: Float) -> Int {
        var i = 0
        while i < cutoffs.count && cutoffs[i] < x { i += 1 }
        return i
    }

    /// [256, 8/nbits]: the weights of the dimensions packed in each possible byte value. Decoding
    /// is then one table look-up per byte instead of one bit-shift per dimension.
    public func byteLookupTable() -> [Float] {
        let perByte = 8 / nbits
        let mask = (1 << nbits) - 1
        var table = [Float](repeating: 0, count: 256 * perByte)
        for value in 0..<256 {
            for k in 0..<perByte {
                let shift = (perByte - 1 - k) * nbits
                table[value * perByte + k] = weights[(value >> shift) & mask]
            }
        }
        return table
    }
}

/// The codec together with the centroids and a decode table: turns stored codes back into vectors.
public struct ResidualDecoder: @unchecked Sendable {
    public let codec: ResidualCodec
    public let quantizer: CoarseQuantizer
    let lookup: [Float]

    public init(codec: ResidualCodec, quantizer: CoarseQuantizer) {
        self.codec = codec
        self.quantizer = quantizer
        lookup = codec.byteLookupTable()
    }

    /// Decodes `count` vectors: out[t] = centroid[codes[t]] + residual weights ([count, dim]).
    /// `codes` are `codeWidth`-byte unsigned integers.
    public func decode(packed: UnsafePointer<UInt8>, codes: UnsafeRawPointer, codeWidth: Int, count: Int,
                       into out: UnsafeMutablePointer<Float>) {
        quantizer.centroids.withUnsafeBufferPointer { cen in
            lookup.withUnsafeBufferPointer { lut in
                plaid_decompress(packed, codes, Int32(codeWidth), count, cen.baseAddress!, codec.dim,
                                 Int32(codec.nbits), lut.baseAddress!, out)
            }
        }
    }
}
