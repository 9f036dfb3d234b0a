import Foundation
import PlaidCore
@testable import PlaidIndex

/// A fresh temporary directory, removed by the caller's `defer`.
func temporaryDirectory(_ name: String = #function) -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("plaid-tests-\(name.filter(\.isLetter))-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Unit vectors with a seeded Gaussian draw: [n, dim].
func randomUnitVectors(_ n: Int, dim: Int, seed: UInt64) -> [Float] {
    var rng = SeededRandom(seed: seed)
    var v = (0..<n * dim).map { _ in rng.nextGaussian() }
    KMeans.normalizeRows(&v, dim: dim)
    return v
}

/// The share of `reference`'s results, query by query, that `results` hold too.
func shareKept(_ results: [[SearchResult]], of reference: [[SearchResult]]) -> Double {
    let found = zip(results, reference).map { Set($0.map(\.document)).intersection($1.map(\.document)).count }.reduce(0, +)
    return Double(found) / Double(max(1, reference.map(\.count).reduce(0, +)))
}

/// A small synthetic corpus written to disk and opened as embeddings.
func smallCorpus(documents: Int = 300, tokens: ClosedRange<Int> = 20...40, dim: Int = 32, seed: UInt64 = 3,
                 in directory: String) throws -> (SyntheticCorpus, DocumentEmbeddings) {
    let corpus = SyntheticCorpus(documents: documents, tokensPerDocument: tokens, dim: dim, terms: 2048, topics: 128, seed: seed)
    let path = (directory as NSString).appendingPathComponent("embeddings")
    try corpus.writeDocuments(to: path)
    return (corpus, try DocumentEmbeddings(directory: path))
}

/// `count` documents of 16 unit vectors of dimension 32 that are zero outside `dims`, with ids
/// "SEED-i": batches far from each other when their `dims` differ.
func batchInDimensions(_ count: Int, dims: Range<Int>, seed: UInt64, tokens: Int = 16) throws -> DocumentBatch {
    let values = randomUnitVectors(count * tokens, dim: dims.count, seed: seed)
    let documents = (0..<count).map { d in
        (0..<tokens).flatMap { t -> [Float] in
            var row = [Float](repeating: 0, count: 32)
            for (j, dimension) in dims.enumerated() { row[dimension] = values[(d * tokens + t) * dims.count + j] }
            return row
        }
    }
    return try DocumentBatch(ids: (0..<count).map { "\(seed)-\($0)" }, documents: documents, dim: 32)
}
