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

/// A small synthetic corpus written to disk and opened as embeddings.
func smallCorpus(documents: Int = 300, tokens: ClosedRange<Int> = 20...40, dim: Int = 32, seed: UInt64 = 3,
                 in directory: String) throws -> (SyntheticCorpus, DocumentEmbeddings) {
    let corpus = SyntheticCorpus(documents: documents, tokensPerDocument: tokens, dim: dim, terms: 2048, topics: 128, seed: seed)
    let path = (directory as NSString).appendingPathComponent("embeddings")
    try corpus.writeDocuments(to: path)
    return (corpus, try DocumentEmbeddings(directory: path))
}
