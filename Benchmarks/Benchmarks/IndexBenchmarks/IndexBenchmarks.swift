import Benchmark
import Foundation
import PlaidCore
import PlaidIndex

// The reference workload: a synthetic corpus of about 1 million tokens (10,000
// documents of 60–140 tokens), dimension 128, indexed at 2 bits, searched at k = 10.
// Setup (writing the corpus, the exhaustive reference) happens outside the measured regions.

private let workDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent("plaid-benchmarks-\(getpid())")
private let corpus = SyntheticCorpus(documents: 10_000, tokensPerDocument: 60...140, dim: 128, seed: 7)
private let queryCount = 300

private final class Fixture: @unchecked Sendable {
    let embeddings: DocumentEmbeddings
    let queries: QueryEmbeddings
    let indexPath: String
    lazy var index: CompressedIndex = try! CompressedIndex(path: indexPath)
    lazy var exhaustiveTop10: [[SearchResult]] = try! ExhaustiveSearcher(documents: embeddings).search(queries: queries, k: 10)

    init() {
        let path = (workDirectory as NSString).appendingPathComponent("embeddings")
        try! corpus.writeDocuments(to: path)
        embeddings = try! DocumentEmbeddings(directory: path)
        queries = corpus.queries(count: queryCount)
        indexPath = (workDirectory as NSString).appendingPathComponent("index")
    }

    func buildIndex() -> BuildSummary {
        try! IndexBuilder.build(from: embeddings, at: indexPath, parameters: BuildParameters(nbits: 2), overwrite: true)
    }
}

nonisolated(unsafe) private var shared: Fixture?
private func fixture() -> Fixture {
    if let shared { return shared }
    let made = Fixture()
    shared = made
    return made
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds)

    Benchmark("Build 1M tokens, dim 128, nbits 2",
              configuration: .init(metrics: [.wallClock, .peakMemoryResident, .custom("bytes per token x100")],
                                   timeUnits: .seconds, maxDuration: .seconds(600), maxIterations: 1)) { benchmark in
        let f = fixture()
        benchmark.startMeasurement()
        let summary = f.buildIndex()
        benchmark.stopMeasurement()
        benchmark.measurement(.custom("bytes per token x100"), Int((summary.bytesPerToken * 100).rounded()))
        blackHole(summary)
    }

    Benchmark("Search k=10, \(queryCount) queries, 2 cores",
              configuration: .init(metrics: [.wallClock, .custom("queries per second", polarity: .prefersLarger),
                                             .custom("recall of exhaustive top-10 x1000", polarity: .prefersLarger)],
                                   timeUnits: .milliseconds, maxDuration: .seconds(120), maxIterations: 5)) { benchmark in
        let f = fixture()
        if !FileManager.default.fileExists(atPath: f.indexPath) { _ = f.buildIndex() }
        let searcher = Searcher(index: f.index)
        let reference = f.exhaustiveTop10
        let started = DispatchTime.now().uptimeNanoseconds
        benchmark.startMeasurement()
        let results = searcher.search(queries: f.queries, parameters: SearchParameters(k: 10))
        benchmark.stopMeasurement()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        var found = 0
        for q in 0..<queryCount { found += Set(reference[q].map(\.document)).intersection(results[q].map(\.document)).count }
        benchmark.measurement(.custom("queries per second", polarity: .prefersLarger), Int(Double(queryCount) / seconds))
        benchmark.measurement(.custom("recall of exhaustive top-10 x1000", polarity: .prefersLarger), found * 1000 / (10 * queryCount))
        blackHole(results)
    }
}
