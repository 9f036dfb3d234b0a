import Foundation
import PlaidCore

/// A seeded synthetic corpus of clustered unit token vectors, with queries drawn from the
/// documents' own terms, for tests and benchmarks.
///
/// It imitates how ColBERT token vectors cluster: a vocabulary of term directions; topics that
/// are sets of terms used with Zipf-like frequencies; documents that mix two to four topics; each
/// token a term direction plus Gaussian noise, normalised. A query takes most of its tokens from
/// one document's terms and the rest from that document's topics, so its exhaustive top results
/// are documents sharing its specific terms, as with real queries.
public struct SyntheticCorpus: Sendable {
    public var documents: Int
    public var tokensPerDocument: ClosedRange<Int>
    public var dim: Int
    public var terms: Int
    public var topics: Int
    public var termsPerTopic: Int
    /// Norm of the noise added to a term direction (0.4 gives cosine ≈ 0.93 to the term).
    public var noise: Float
    public var seed: UInt64

    public init(documents: Int, tokensPerDocument: ClosedRange<Int> = 60...140, dim: Int = 128,
                terms: Int = 8192, topics: Int = 512, termsPerTopic: Int = 48, noise: Float = 0.4, seed: UInt64 = 7) {
        self.documents = documents; self.tokensPerDocument = tokensPerDocument; self.dim = dim
        self.terms = terms; self.topics = topics; self.termsPerTopic = termsPerTopic; self.noise = noise; self.seed = seed
    }

    /// The term directions ([terms, dim]) and each topic's terms.
    private func model() -> (directions: [Float], topicTerms: [[Int]]) {
        var rng = SeededRandom(seed: seed)
        var directions = (0..<terms * dim).map { _ in rng.nextGaussian() }
        normalize(&directions, rows: terms)
        let topicTerms = (0..<topics).map { _ in (0..<termsPerTopic).map { _ in Int(rng.next() % UInt64(terms)) } }
        return (directions, topicTerms)
    }

    private func normalize(_ m: inout [Float], rows: Int) {
        for r in 0..<rows {
            var s: Float = 0
            for j in 0..<dim { s += m[r * dim + j] * m[r * dim + j] }
            let inv = 1 / max(s.squareRoot(), 1e-12)
            for j in 0..<dim { m[r * dim + j] *= inv }
        }
    }

    /// Document d's topics and the term of each of its tokens: a pure function of the seed and d.
    private func documentTerms(_ d: Int, topicTerms: [[Int]]) -> (topics: [Int], terms: [Int]) {
        var rng = SeededRandom(seed: seed &+ 1_000_003 &* UInt64(d + 1))
        let length = tokensPerDocument.lowerBound + Int(rng.next() % UInt64(tokensPerDocument.count))
        let docTopics = (0..<(2 + Int(rng.next() % 3))).map { _ in Int(rng.next() % UInt64(topics)) }
        let termList = (0..<length).map { _ -> Int in
            let topic = topicTerms[docTopics[Int(rng.next() % UInt64(docTopics.count))]]
            let u = rng.nextUnit()
            return topic[min(topic.count - 1, Int(Float(topic.count) * u * u))]
        }
        return (docTopics, termList)
    }

    private func noisyTerm(_ term: Int, directions: [Float], rng: inout SeededRandom, into row: UnsafeMutablePointer<Float>) {
        let scale = noise / Float(dim).squareRoot()
        for j in 0..<dim { row[j] = directions[term * dim + j] + scale * rng.nextGaussian() }
        var s: Float = 0
        for j in 0..<dim { s += row[j] * row[j] }
        let inv = 1 / s.squareRoot()
        for j in 0..<dim { row[j] *= inv }
    }

    /// Writes the embeddings layout (`doc_embeddings.npy`, `doclens.npy`, `doc_ids.json`) to
    /// `directory`, streaming documents so that memory stays small whatever the size.
    @discardableResult
    public func writeDocuments(to directory: String, elementType: NPYElementType = .float32, progress: Bool = false) throws -> Int {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (directions, topicTerms) = model()
        var rng = SeededRandom(seed: seed &+ 1)
        let writer = try NPYWriter(path: (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentEmbeddings),
                                   elementType: elementType, rowShape: [dim])
        var lengths: [Int] = []
        lengths.reserveCapacity(documents)
        let reporter = progress ? ProgressReporter(label: "synthesizing", total: documents, unit: "documents") : nil
        var buffer: [Float] = []
        for d in 0..<documents {
            let termList = documentTerms(d, topicTerms: topicTerms).terms
            let start = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: termList.count * dim))
            buffer.withUnsafeMutableBufferPointer { b in
                for (t, term) in termList.enumerated() { noisyTerm(term, directions: directions, rng: &rng, into: b.baseAddress! + start + t * dim) }
            }
            lengths.append(termList.count)
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

    /// Queries of `tokens` vectors: three quarters from one random document's terms, the rest
    /// from its topics.
    public func queries(count: Int, tokens: Int = 32) -> QueryEmbeddings {
        let (directions, topicTerms) = model()
        var rng = SeededRandom(seed: seed &+ 2)
        var values = [Float](repeating: 0, count: count * tokens * dim)
        values.withUnsafeMutableBufferPointer { v in
            for q in 0..<count {
                let source = documentTerms(Int(rng.next() % UInt64(documents)), topicTerms: topicTerms)
                for t in 0..<tokens {
                    let term: Int
                    if rng.nextUnit() < 0.75 {
                        term = source.terms[Int(rng.next() % UInt64(source.terms.count))]
                    } else {
                        let topic = topicTerms[source.topics[Int(rng.next() % UInt64(source.topics.count))]]
                        term = topic[Int(rng.next() % UInt64(topic.count))]
                    }
                    noisyTerm(term, directions: directions, rng: &rng, into: v.baseAddress! + (q * tokens + t) * dim)
                }
            }
        }
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
