import Foundation
import PlaidCore

extension Searcher {
    /// Searches every query with progress on stderr; returns the results, each query's latency
    /// in seconds, and the stages' totals over all queries.
    public func searchTimed(queries: QueryEmbeddings, parameters: SearchParameters, filter: DocumentFilter? = nil,
                            threads: Int) -> (results: [[SearchResult]], latencies: [Double], trace: SearchTrace) {
        var latencies = [Double](repeating: 0, count: queries.count)
        var trace = SearchTrace()
        let progress = ProgressReporter(label: "searching", total: queries.count, unit: "queries")
        var done = 0
        let results = search(queries: queries, parameters: parameters, filter: filter, threads: threads,
                             onTrace: { _, stages in trace.accumulate(stages) }) { q, seconds in
            latencies[q] = seconds
            done += 1
            // The last line is the caller's summary (`SearchTimes.summary`).
            if done < queries.count { progress.update(done) }
        }
        return (results, latencies, trace)
    }
}

/// How long a set of searches took, in one line.
public enum SearchTimes {
    /// Queries per second and nearest-rank latency percentiles (p50, p95, p99) in milliseconds.
    public static func summary(queries: Int, seconds: Double, latencies: [Double]) -> String {
        var line = String(format: "search: %d queries in %.2f s (%@)", queries, seconds, formatRate(Double(queries) / max(seconds, 1e-9), "queries"))
        guard !latencies.isEmpty else { return line }
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
            return sorted[min(max(rank, 1), sorted.count) - 1] * 1000
        }
        line += String(format: "; latency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms", percentile(50), percentile(95), percentile(99))
        return line
    }
}
