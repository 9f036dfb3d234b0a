// Grouped centroid assignment (`CentroidGroups`, used by builds from 16,384 centroids on)
// against brute force on an index's own centroids: the share of tokens whose nearest centroid the
// groups miss, how much farther the centroid they give is, and both ways' tokens/s, at several
// probe counts, without and with the second look that builds take at tokens farther than the
// codebook's outlier distance. One run; results go in docs/benchmarks.md ("Scale").
//
// Usage: assignment-misses INDEX EMBEDDINGS [TOKENS] [PROBES...]
//   INDEX       an index whose centroids to use (its codebook, not its codes)
//   EMBEDDINGS  the embeddings directory it was built from
//   TOKENS      tokens sampled, evenly spread over the corpus (default 200,000)
//   PROBES      probe counts to measure (default 2 4 8 16)
import Foundation
import PlaidCore
import PlaidIndex

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write("usage: assignment-misses INDEX EMBEDDINGS [TOKENS] [PROBES...]\n".data(using: .utf8)!)
    exit(2)
}
let index = try CompressedIndex(path: arguments[1])
let embeddings = try DocumentEmbeddings(directory: arguments[2])
let sampleCount = min(embeddings.tokenCount, arguments.count > 3 ? Int(arguments[3])! : 200_000)
let probeCounts = arguments.count > 4 ? arguments[4...].map { Int($0)! } : [2, 4, 8, 16]
let dim = index.dim, centroids = index.quantizer.centroids, k = centroids.count / dim

// Runs of 1,000 consecutive tokens spread evenly: what a chunk of the build sees.
var points = [Float](repeating: 0, count: sampleCount * dim)
let run = min(1_000, sampleCount), runs = sampleCount / run
try points.withUnsafeMutableBufferPointer { p in
    for r in 0..<runs {
        let start = Int(Double(r) * Double(embeddings.tokenCount - run) / Double(max(1, runs - 1)))
        try embeddings.copyTokens(start: start, count: run, into: p.baseAddress! + r * run * dim)
    }
}
let n = runs * run
points.removeLast(points.count - n * dim)

func timed(_ body: () -> Void) -> Double {
    let started = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
}

func dot(_ points: [Float], _ i: Int, _ centroids: [Float], _ c: Int32, dim: Int) -> Float {
    var s: Float = 0
    for j in 0..<dim { s += points[i * dim + j] * centroids[Int(c) * dim + j] }
    return s
}

var exact = [Int32](repeating: 0, count: n)
let finder = NearestCentroidFinder(centroids: centroids, dim: dim)
let bruteSeconds = points.withUnsafeBufferPointer { p in
    exact.withUnsafeMutableBufferPointer { e in timed { finder.assign(p.baseAddress!, count: n, into: e.baseAddress!) } }
}
print("\(k) centroids, \(n) tokens; brute force: \(Int(Double(n) / bruteSeconds)) tokens/s")
print("| probes | groups | second look | misses | miss rate | mean score lost per miss | tokens/s | speed-up |")
print("|---|---|---|---|---|---|---|---|")
let recheckBelow = index.codebook.outlierDistance.map { 1 - $0 / 2 }
for probes in probeCounts { for recheck in [nil, recheckBelow] {
    var found = [Int32](repeating: 0, count: n)
    var groups: CentroidGroups!
    let groupingSeconds = timed { groups = CentroidGroups(centroids: centroids, dim: dim, probes: probes) }
    let seconds = points.withUnsafeBufferPointer { p in
        found.withUnsafeMutableBufferPointer { f in timed { groups.assign(p.baseAddress!, count: n, into: f.baseAddress!, recheckBelow: recheck) } }
    }
    let missed = (0..<n).filter { exact[$0] != found[$0] }
    let lost = missed.map { i in
        Double(dot(points, i, centroids, exact[i], dim: dim) - dot(points, i, centroids, found[i], dim: dim))
    }.reduce(0, +) / Double(max(1, missed.count))
    let second = recheck.map { "below score \(String(format: "%.3f", $0)), \(groups.recheckProbes) probes" } ?? "none"
    print("| \(groups.probes) | \(groups.groupCount) | \(second) | \(missed.count) | \(String(format: "%.4f", Double(missed.count) / Double(n))) | "
          + "\(String(format: "%.4f", lost)) | \(Int(Double(n) / seconds)) | \(String(format: "%.1f×", bruteSeconds / seconds)) |")
    FileHandle.standardError.write("grouping \(k) centroids took \(String(format: "%.2f", groupingSeconds)) s\n".data(using: .utf8)!)
} }
