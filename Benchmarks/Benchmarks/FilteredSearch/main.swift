import Foundation
import PlaidCore
import PlaidIndex
import BenchmarkSupport

// Filtered search on a real collection's embeddings, in one run:
//
//   swift run -c release --package-path Benchmarks filtered-search EMB QEMB QRELS [WORK]
//
// Every document gets a seeded field `bucket` (0–999); `bucket < N` selects about N/10 % of the
// documents. At 0.1%, 1%, 2%, 5%, 10% and 50% it measures the share of the exact top-10 kept (exact:
// exhaustive MaxSim over the matching documents) and queries/s, against the unfiltered search,
// and times both filtered strategies (exact scoring of every match, and the restricted staged
// search) to locate their crossover. Search is at k = 10 with PLAID's defaults for that k.

func main() throws {
    let run = try CollectionRun(tool: "filtered-search")
    let documents = run.documents, queries = run.queries

    var rng = SeededRandom(seed: 99)
    let bucket = (0..<documents.documentCount).map { _ in Int64(rng.next() % 1000) }
    let metadata = Dictionary(uniqueKeysWithValues: documents.ids.enumerated().map { ($1, ["bucket": MetadataValue.integer(bucket[$0])]) })
    let indexPath = run.path("index")
    if !FileManager.default.fileExists(atPath: indexPath) {
        _ = try IndexBuilder.build(from: documents, at: indexPath, parameters: BuildParameters(nbits: 2), metadata: metadata)
    }
    let index = try CompressedIndex(path: indexPath)
    let searcher = Searcher(index: index)
    let exhaustive = ExhaustiveSearcher(documents: documents)
    func share(_ results: [[SearchResult]], _ exact: [[SearchResult]]) -> Double {
        var found = 0, total = 0
        for (r, e) in zip(results, exact) { found += Set(r.prefix(10).map(\.id)).intersection(e.prefix(10).map(\.id)).count; total += min(10, e.count) }
        return Double(found) / Double(max(1, total))
    }
    let parameters = SearchParameters(k: 10)
    let exactAll = try exhaustive.search(queries: queries, k: 10)
    var unfilteredRates: [Double] = []
    var unfiltered: [[SearchResult]] = []
    for _ in 0..<3 {
        let (results, seconds) = timed { searcher.search(queries: queries, parameters: parameters) }
        unfiltered = results
        unfilteredRates.append(Double(queries.count) / seconds)
    }
    let unfilteredShare = share(unfiltered, exactAll)
    print("| filter | matching documents (tokens) | exact top-10 kept | queries/s | / unfiltered | exact scoring of all matches, queries/s | restricted staged search, queries/s |")
    print("|---|---|---|---|---|---|---|")
    print(String(format: "| none | %d (%d) | %.3f | %.1f | 1.00 | | |", index.documentCount, index.tokenCount, unfilteredShare, median(unfilteredRates)))
    for (label, cutoff) in [("0.1%", 1), ("1%", 10), ("2%", 20), ("5%", 50), ("10%", 100), ("50%", 500)] {
        let filter = try index.documents(matching: MetadataFilter("bucket < ?", parameters: ["\(cutoff)"]))
        let allowed = Set(filter.ordinals)
        let exact = try exhaustive.search(queries: queries, k: 10, include: { allowed.contains($0) })
        var rates: [Double] = [], exactRates: [Double] = [], stagedRates: [Double] = []
        var results: [[SearchResult]] = []
        var exactOnly = parameters, stagedOnly = parameters
        exactOnly.exactScoringTokens = Int.max
        stagedOnly.exactScoringTokens = 0
        var stagedResults: [[SearchResult]] = []
        for _ in 0..<3 {   // interleaved rounds, medians
            let (r, s) = timed { searcher.search(queries: queries, parameters: parameters, filter: filter) }
            results = r; rates.append(Double(queries.count) / s)
            exactRates.append(Double(queries.count) / timed { searcher.search(queries: queries, parameters: exactOnly, filter: filter) }.1)
            let (staged, stagedSeconds) = timed { searcher.search(queries: queries, parameters: stagedOnly, filter: filter) }
            stagedResults = staged; stagedRates.append(Double(queries.count) / stagedSeconds)
        }
        print(String(format: "| bucket < %d (%@) | %d (%d) | %.3f | %.1f | %.2f | %.1f | %.1f (kept %.3f) |", cutoff, label, filter.count, filter.tokens,
                     share(results, exact), median(rates), median(rates) / median(unfilteredRates), median(exactRates), median(stagedRates),
                     share(stagedResults, exact)))
        fflush(nil)
    }
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("error: \(describe(error))\n".utf8))
    exit(1)
}
