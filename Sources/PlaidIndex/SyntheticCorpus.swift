import Foundation
import PlaidCore

/// A seeded synthetic corpus of clustered unit token vectors, with queries drawn from the
/// documents' own topics, for tests and benchmarks. Each document mixes a few topics; each token
/// is a topic direction plus Gaussian noise, normalised.
public struct SyntheticCorpus {
    public var documents: Int
    public var tokensPerDocument: ClosedRange<Int>
    public var dim: Int
    public var topics: Int
    public var noise: Float
    public var seed: UInt64

    public init(documents: Int, tokensPerDocument: ClosedRange<Int> = 60...140, dim: Int = 128,
                topics: Int = 512, noise: Float = 1.0, seed: UInt64 = 7) {
        self.documents = documents; self.tokensPerDocument = tokensPerDocument; self.dim = dim
        self.topics = topics; self.noise = noise; self.seed = seed
    }

    private func topicDirections() -> [Float] {
        var rng = SeededRandom(seed: seed)
        var t = (0..<topics * dim).map { _ in rng.nextGaussian() }
        normalize(&t, rows: topics)
        return t
    }

    private func normalize(_ m: inout [Float], rows: Int) {
        for r in 0..<rows {
            var s: Float = 0
            for j in 0..<dim { s += m[r * dim + j] * m[r * dim + j] }
            let inv = 1 / max(s.squareRoot(), 1e-12)
            for j in 0..<dim { m[r * dim + j] *= inv }
        }
    }

    /// Writes the embeddings layout (`doc_embeddings.npy`, `doclens.npy`, `doc_ids.json`) to
    /// `directory`, streaming documents so that memory stays small whatever the size.
    @discardableResult
    public func writeDocuments(to directory: String, elementType: NPYElementType = .float32, progress: Bool = false) throws -> Int {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let directions = topicDirections()
        var rng = SeededRandom(seed: seed &+ 1)
        let writer = try NPYWriter(path: (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentEmbeddings),
                                   elementType: elementType, rowShape: [dim])
        var lengths: [Int] = []
        lengths.reserveCapacity(documents)
        let reporter = progress ? ProgressReporter(label: "synthesizing", total: documents, unit: "documents") : nil
        var buffer: [Float] = []
        for d in 0..<documents {
            let n = tokensPerDocument.lowerBound + Int(rng.next() % UInt64(tokensPerDocument.count))
            let docTopics = documentTopics(d)
            var rows = [Float](repeating: 0, count: n * dim)
            for t in 0..<n {
                let topic = docTopics[Int(rng.next() % UInt64(docTopics.count))]
                for j in 0..<dim { rows[t * dim + j] = directions[topic * dim + j] + noise * rng.nextGaussian() / Float(dim).squareRoot() }
            }
            normalize(&rows, rows: n)
            buffer += rows
            lengths.append(n)
            if buffer.count >= 1 << 20 { try buffer.withUnsafeBufferPointer { try writer.append($0) }; buffer.removeAll(keepingCapacity: true) }
            reporter?.update(d + 1)
        }
        try buffer.withUnsafeBufferPointer { try writer.append($0) }
        try writer.finish()
        try NPYWriter.write(path: (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentLengths),
                            elementType: .int32, shape: [documents], floats: lengths.map(Float.init))
        try EmbeddingsLayout.writeIDs((0..<documents).map { "doc\($0)" },
                                      path: (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentIDs))
        reporter?.finish()
        return lengths.reduce(0, +)
    }

    /// The topics document d mixes (two to four of them), a function of the seed and d.
    func documentTopics(_ d: Int) -> [Int] {
        var rng = SeededRandom(seed: seed &+ 1000 &+ UInt64(d) &* 7919)
        let count = 2 + Int(rng.next() % 3)
        return (0..<count).map { _ in Int(rng.next() % UInt64(topics)) }
    }

    /// Queries of `tokens` vectors, each drawn from the topics of a random document.
    public func queries(count: Int, tokens: Int = 32) -> QueryEmbeddings {
        let directions = topicDirections()
        var rng = SeededRandom(seed: seed &+ 2)
        var values = [Float](repeating: 0, count: count * tokens * dim)
        for q in 0..<count {
            let docTopics = documentTopics(Int(rng.next() % UInt64(documents)))
            for t in 0..<tokens {
                let topic = docTopics[Int(rng.next() % UInt64(docTopics.count))]
                for j in 0..<dim {
                    values[(q * tokens + t) * dim + j] = directions[topic * dim + j] + noise * rng.nextGaussian() / Float(dim).squareRoot()
                }
            }
        }
        var block = values
        for r in 0..<(count * tokens) {
            var s: Float = 0
            for j in 0..<dim { s += block[r * dim + j] * block[r * dim + j] }
            let inv = 1 / s.squareRoot()
            for j in 0..<dim { block[r * dim + j] *= inv }
        }
        values = block
        return QueryEmbeddings(ids: (0..<count).map { "q\($0)" }, tokensPerQuery: tokens, dim: dim, values: values)
    }

    /// Writes `queries(count:tokens:)` in the query embeddings layout.
    public func writeQueries(count: Int, tokens: Int = 32, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let q = queries(count: count, tokens: tokens)
        try NPYWriter.write(path: (directory as NSString).appendingPathComponent(EmbeddingsLayout.queryEmbeddings),
                            elementType: .float32, shape: [count, tokens, dim], floats: q.values)
        try EmbeddingsLayout.writeIDs(q.ids, path: (directory as NSString).appendingPathComponent(EmbeddingsLayout.queryIDs))
    }
}
