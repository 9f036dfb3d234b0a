import Foundation

/// Token pooling as PyLate's `pool_factor` does it (`ColBERT.pool_embeddings_hierarchical`): a
/// document's first token is kept as it is; the others are clustered by Ward's hierarchical
/// linkage on the cosine distance (1 − u·v of the unit vectors), the dendrogram is cut where
/// it has ⌊tokens / factor⌋ clusters (at least one), and each cluster becomes its members' mean.
/// Fewer vectors per document mean a smaller index and faster search, at some cost in quality.
/// Queries are never pooled.
public enum TokenPooling {
    /// The pooled vectors of one document, `[tokens · dimension]` in, `[pooled · dimension]` out:
    /// the `protectedTokens` first vectors unchanged, then the cluster means, in the order of each
    /// cluster's first token. A document that pooling would not shorten comes back unchanged.
    public static func pool(_ vectors: [Float], dimension: Int, factor: Int, protectedTokens: Int = 1) -> [Float] {
        precondition(dimension > 0 && factor >= 1 && protectedTokens >= 0)
        let tokens = vectors.count / dimension
        let kept = min(protectedTokens, tokens), n = tokens - kept
        let clusters = max(n / factor, 1)
        guard clusters < n else { return vectors }
        let rest = Array(vectors[(kept * dimension)...])
        var products = [Float](repeating: 0, count: n * n)
        rest.withUnsafeBufferPointer { BLAS.matmulTransposedB($0.baseAddress!, $0.baseAddress!, &products, m: n, n: n, k: dimension) }
        // The distances as PyLate computes them: 1 − similarity in single precision, then linked
        // in double precision.
        let distances = products.map { Double(1 - $0) }
        let labels = wardClusters(distances: distances, count: n, clusters: clusters)
        let found = (labels.max() ?? -1) + 1
        var sums = [Float](repeating: 0, count: found * dimension), counts = [Int](repeating: 0, count: found)
        for (i, label) in labels.enumerated() {
            counts[label] += 1
            for j in 0..<dimension { sums[label * dimension + j] += rest[i * dimension + j] }
        }
        var pooled = Array(vectors[..<(kept * dimension)])
        pooled.reserveCapacity((kept + found) * dimension)
        for c in 0..<found {
            let count = Float(counts[c])
            for j in 0..<dimension { pooled.append(sums[c * dimension + j] / count) }
        }
        return pooled
    }

    /// Flat clusters of `count` points from Ward's linkage on `distances` ([count, count],
    /// symmetric): every merge of the dendrogram at or below the lowest height that leaves at most
    /// `clusters` clusters (so, as SciPy's `fcluster(..., criterion="maxclust")`, fewer where
    /// merges tie there). Each point's cluster, numbered by first member.
    static func wardClusters(distances: [Double], count n: Int, clusters: Int) -> [Int] {
        precondition(distances.count == n * n && clusters >= 1)
        guard n > 1 else { return [Int](repeating: 0, count: n) }
        var d = distances, size = [Int](repeating: 1, count: n)
        var merges: [(a: Int, b: Int, height: Double)] = []
        merges.reserveCapacity(n - 1)
        // The nearest-neighbour chain: follow nearest neighbours until two are each other's, merge
        // them, repeat. Ward's linkage is reducible, so this finds the dendrogram that merging the
        // closest pair each time would, in O(n²).
        var chain: [Int] = []
        for _ in 0..<(n - 1) {
            if chain.isEmpty, let first = size.firstIndex(where: { $0 > 0 }) { chain.append(first) }
            var x = 0, y = 0, nearest = Double.infinity
            while true {
                x = chain[chain.count - 1]
                nearest = .infinity
                if chain.count > 1 { y = chain[chain.count - 2]; nearest = d[x * n + y] }
                for i in 0..<n where size[i] > 0 && i != x && d[x * n + i] < nearest {
                    nearest = d[x * n + i]
                    y = i
                }
                if chain.count > 1 && y == chain[chain.count - 2] { break }
                chain.append(y)
            }
            chain.removeLast(2)
            let (keep, gone) = (max(x, y), min(x, y))  // the merged cluster lives on at the larger index
            merges.append((gone, keep, nearest))
            // Lance–Williams for Ward's linkage.
            let sx = Double(size[x]), sy = Double(size[y])
            for i in 0..<n where size[i] > 0 && i != x && i != y {
                let si = Double(size[i]), dx = d[x * n + i], dy = d[y * n + i]
                let merged = (((sx + si) * dx * dx + (sy + si) * dy * dy - si * nearest * nearest) / (sx + sy + si)).squareRoot()
                d[keep * n + i] = merged.isNaN ? 0 : merged
                d[i * n + keep] = d[keep * n + i]
            }
            size[keep] += size[gone]
            size[gone] = 0
        }
        guard clusters < n else { return Array(0..<n) }
        // The cut: every merge at or below the height of the (n − clusters)-th lowest.
        let cut = merges.map(\.height).sorted()[n - clusters - 1]
        var parent = Array(0..<n)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for merge in merges where merge.height <= cut { parent[root(merge.a)] = root(merge.b) }
        var number: [Int: Int] = [:]
        return (0..<n).map { i in
            let r = root(i)
            if let known = number[r] { return known }
            number[r] = number.count
            return number.count - 1
        }
    }
}

/// A `TextEncoder` whose document vectors are pooled (`TokenPooling`, `factor` ≥ 2); queries pass
/// through. Wrap an encoder in it to build, add or encode with `--pool-factor`.
public final class PooledEncoder: TextEncoder {
    public let base: TextEncoder
    public let factor: Int

    public init(_ base: TextEncoder, factor: Int) {
        precondition(factor >= 1)
        self.base = base
        self.factor = factor
    }

    /// `encoder` itself for a factor of 1, else `encoder` wrapped to pool its documents.
    public static func pooling(_ encoder: TextEncoder, factor: Int) -> TextEncoder {
        factor > 1 ? PooledEncoder(encoder, factor: factor) : encoder
    }

    public var dimension: Int { base.dimension }
    public var queryLength: Int { base.queryLength }
    public var identity: ModelIdentity { base.identity }
    public var tokensProcessed: Int { base.tokensProcessed }

    public func encodeDocuments(_ texts: [String], batchSize: Int, progress: ((Int) -> Void)?) throws -> [[Float]] {
        let vectors = try base.encodeDocuments(texts, batchSize: batchSize, progress: progress)
        guard factor > 1 else { return vectors }
        var pooled = [[Float]](repeating: [], count: vectors.count)
        let lock = NSLock()
        Parallel.forEach(vectors.count) { i in
            let one = TokenPooling.pool(vectors[i], dimension: dimension, factor: factor)
            lock.lock(); pooled[i] = one; lock.unlock()
        }
        return pooled
    }

    public func encodeQueries(_ texts: [String], batchSize: Int) throws -> [[Float]] {
        try base.encodeQueries(texts, batchSize: batchSize)
    }

    public func encodeQueryEmbeddings(ids: [String], texts: [String], batchSize: Int) throws -> QueryEmbeddings {
        try base.encodeQueryEmbeddings(ids: ids, texts: texts, batchSize: batchSize)
    }

    public func queryTokenTexts(_ text: String) -> [String] { base.queryTokenTexts(text) }

    /// A pooled vector stands for a cluster of tokens, not one.
    public func documentTokens(_ text: String) -> [DocumentToken]? { factor > 1 ? nil : base.documentTokens(text) }
    public func tokenText(ofID id: Int) -> String? { base.tokenText(ofID: id) }
}
