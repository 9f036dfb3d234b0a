import Foundation
import PlaidKernels

extension Codebook {
    /// What a segment's codes and residuals mean: the dimension, the bits, the residual codec's
    /// cutoffs and weights, and the first `listCount` centroids as stored (float16), hashed to 16
    /// hex digits. A segment records the identity of the codebook it was coded with over its own
    /// `listCount`; an index whose codebook has the same identity over that many centroids can
    /// take the segment in, however many centroids it appended since (growth never changes the
    /// centroids before them). Not cryptographic: it catches mistakes, not forgeries.
    public func identity(centroids: [Float], listCount: Int) -> String {
        precondition(listCount <= centroids.count / max(1, dim), "the identity covers centroids the codebook has")
        var state = plaid_checksum_state()
        plaid_checksum_init(&state, 0x636f_6465_626f_6f6b)   // "codebook"
        func add(_ values: [UInt64]) { values.withUnsafeBytes { plaid_checksum_update(&state, $0.baseAddress, $0.count) } }
        add([UInt64(dim), UInt64(nbits), UInt64(listCount), UInt64(bucketCutoffs.count), UInt64(bucketWeights.count)])
        add((bucketCutoffs + bucketWeights).map { UInt64($0.bitPattern) })
        let stored = centroids[0..<(listCount * dim)].map { Float16($0).bitPattern }
        stored.withUnsafeBytes { plaid_checksum_update(&state, $0.baseAddress, $0.count) }
        return String(format: "%016llx", plaid_checksum_final(&state))
    }
}
