// serve-load: `plaid serve` under load, against `plaid query`'s batch search on the same index.
//
//   swift build -c release                      # the plaid binary this tool starts
//   swift run -c release --package-path Benchmarks serve-load EMB QEMB QRELS [WORK]
//
// EMB/QEMB: document and query embeddings (`plaid encode`); QRELS: the judgments whose queries
// are sent. It builds the index once in WORK (reused when present), measures the batch search
// (Searcher on 2 threads, as `plaid query` runs it; median of 3 passes), then for concurrency 1,
// 8 and 32, without and with a writer adding 10 documents every 100 ms (100 a second, as new
// ids), starts `plaid serve` on a fresh copy of the index, warms it up, and sends the judged
// queries' embeddings to /search (k = 10) round robin for SECONDS (default 20; env
// SERVE_LOAD_SECONDS). Prints queries/s, p50/p99 latency, and the writer's achieved rate. Each
// row is compared with batch passes run just before and after it (this machine's speed drifts
// by a third between minutes). Last, 8 clients add one document per request: commits/s.
import BenchmarkSupport
import Foundation
import PlaidCore
import PlaidIndex

/// A line on standard output, written at once (also into a file), so each row shows as it is measured.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
let loadSeconds = Double(ProcessInfo.processInfo.environment["SERVE_LOAD_SECONDS"] ?? "") ?? 20
let plaidBinary = ProcessInfo.processInfo.environment["PLAID_BINARY"] ?? ".build/release/plaid"
let run = try CollectionRun(tool: "serve-load")
guard FileManager.default.isExecutableFile(atPath: plaidBinary) else {
    FileHandle.standardError.write(Data("serve-load: no plaid at \(plaidBinary); run `swift build -c release` in the repository first, or set PLAID_BINARY\n".utf8))
    exit(2)
}
let k = 10
let dim = run.documents.dim

// 1. The index, and the batch search it is compared with.
let pristine = run.path("index")
if (try? CompressedIndex(path: pristine)) == nil {
    let (summary, buildSeconds) = try timed { try IndexBuilder.build(from: run.documents, at: pristine, overwrite: true) }
    say(String(format: "built the index: %d documents, %d tokens, %.0f s", summary.manifest.documentCount, summary.manifest.tokenCount, buildSeconds))
}
/// One pass of the batch search over the judged queries: queries/s.
let judged = run.queries
let batchPass = { [pristine, k] () throws -> Double in
    let searcher = Searcher(index: try CompressedIndex(path: pristine))
    let (_, elapsed) = timed { searcher.search(queries: judged, parameters: SearchParameters(k: k), threads: 2) }
    return Double(judged.count) / elapsed
}
let batchRates = try (0..<3).map { _ in try batchPass() }
say(String(format: "plaid query batch search, 2 threads, k=%d: %.1f queries/s (median of 3: %@)", k, median(batchRates),
           batchRates.map { String(format: "%.1f", $0) }.joined(separator: ", ")))

// 2. Request bodies, serialised once.
func json(_ rows: ArraySlice<Float>) -> String {
    var text = "["
    for t in 0..<(rows.count / dim) {
        if t > 0 { text += "," }
        text += "[" + rows[(rows.startIndex + t * dim)..<(rows.startIndex + (t + 1) * dim)].map { "\($0)" }.joined(separator: ",") + "]"
    }
    return text + "]"
}
let perQuery = run.queries.tokensPerQuery * dim
let queryBodies = (0..<run.queries.count).map { q in
    Array("{\"k\":\(k),\"query_embeddings\":[\(json(run.queries.values[(q * perQuery)..<((q + 1) * perQuery)]))]}".utf8)
}
// The writer cycles over 200 documents' vectors under new ids.
let writerDocuments = try (0..<200).map { d -> String in
    let count = run.documents.lengths[d]
    var vectors = [Float](repeating: 0, count: count * dim)
    try vectors.withUnsafeMutableBufferPointer { try run.documents.copyTokens(start: run.documents.offsets[d], count: count, into: $0.baseAddress!) }
    return json(vectors[...])
}

// 3. The server on a fresh copy of the index.
final class Server: @unchecked Sendable {
    let process = Process()
    let port: Int
    init(binary: String, index: String, log: String) throws {
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--index", index, "--port", "0", "--threads", "2", "--quiet"]
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var bound = 0
        while bound == 0 && Date() < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"127\.0\.0\.1:\d+"#, options: .regularExpression) {
                bound = Int(text[range].split(separator: ":")[1])!
            } else { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard bound > 0 else { throw LoadError("plaid serve did not start") }
        port = bound
    }
    func stop() { process.terminate(); process.waitUntilExit() }
}

struct Outcome {
    var queries = 0, latencies: [Double] = [], errors = 0, writtenDocuments = 0, writeSeconds: [Double] = []
    /// The batch search's queries/s in passes just before and just after the load, while the
    /// server idles: the machine's speed in this round, which the server is compared with.
    var batchRates: [Double] = []
}

/// What the client threads add up, under a lock.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome = Outcome()
    func add(_ body: (inout Outcome) -> Void) { lock.lock(); body(&outcome); lock.unlock() }
    var total: Outcome { lock.lock(); defer { lock.unlock() }; return outcome }
}

func load(concurrency: Int, writer: Bool, seconds: Double, binary: String, pristine: String, served: String, log: String,
          queryBodies: [[UInt8]], writerDocuments: [String], batchPass: () throws -> Double) throws -> Outcome {
    try? FileManager.default.removeItem(atPath: served)
    try FileManager.default.copyItem(atPath: pristine, toPath: served)
    let server = try Server(binary: binary, index: served, log: log)
    defer { server.stop() }
    let warm = try HTTPConnection(port: server.port)
    for q in 0..<20 { _ = try warm.send("POST", "/search", body: queryBodies[q % queryBodies.count]) }

    let before = try batchPass()
    let tally = Tally()
    let start = DispatchTime.now().uptimeNanoseconds
    let end = start + UInt64(seconds * 1e9)
    let group = DispatchGroup()
    if writer {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            guard let connection = try? HTTPConnection(port: server.port) else { return }
            var next = start, serial = 0
            while next < end {
                let now = DispatchTime.now().uptimeNanoseconds
                if now < next { usleep(UInt32((next - now) / 1000)) }
                let documents = (0..<10).map { i -> String in
                    serial += 1
                    return "{\"id\":\"load-\(serial)\",\"embeddings\":\(writerDocuments[serial % writerDocuments.count])}"
                }
                let body = Array("{\"documents\":[\(documents.joined(separator: ","))]}".utf8)
                let sent = DispatchTime.now().uptimeNanoseconds
                let answer = try? connection.send("POST", "/documents", body: body)
                let took = Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e9
                tally.add { if answer?.status == 201 { $0.writtenDocuments += 10; $0.writeSeconds.append(took) } else { $0.errors += 1 } }
                next += 100_000_000
            }
        }
    }
    for client in 0..<concurrency {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            guard let connection = try? HTTPConnection(port: server.port) else { return }
            var q = client * 7
            var latencies: [Double] = [], errors = 0
            while DispatchTime.now().uptimeNanoseconds < end {
                let sent = DispatchTime.now().uptimeNanoseconds
                let answer = try? connection.send("POST", "/search", body: queryBodies[q % queryBodies.count])
                if answer?.status == 200 { latencies.append(Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e6) } else { errors += 1 }
                q += 1
            }
            tally.add { $0.latencies += latencies; $0.queries += latencies.count; $0.errors += errors }
        }
    }
    group.wait()
    var outcome = tally.total
    outcome.batchRates = [before, try batchPass()]
    return outcome
}

// 4. The table.
say("| concurrency | writer | queries/s | batch queries/s, same round | server / batch | p50 ms | p99 ms | documents written/s | add p50 ms | errors |")
say("|---|---|---|---|---|---|---|---|---|---|")
for writer in [false, true] {
    for concurrency in [1, 8, 32] {
        let outcome = try load(concurrency: concurrency, writer: writer, seconds: loadSeconds, binary: plaidBinary, pristine: pristine, served: run.path("served"),
                               log: run.path("serve.log"), queryBodies: queryBodies, writerDocuments: writerDocuments, batchPass: batchPass)
        let sorted = outcome.latencies.sorted()
        let rate = Double(outcome.queries) / loadSeconds
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let batch = outcome.batchRates.reduce(0, +) / Double(outcome.batchRates.count)
        say(String(format: "| %d | %@ | %.1f | %.1f | %.2f | %.1f | %.1f | %@ | %@ | %d |", concurrency, writer ? "100 docs/s" : "none", rate, batch, rate / batch,
                     percentile(0.5), percentile(0.99),
                     writer ? String(format: "%.0f", Double(outcome.writtenDocuments) / loadSeconds) : "–",
                     writer && !outcome.writeSeconds.isEmpty ? String(format: "%.0f", median(outcome.writeSeconds) * 1000) : "–",
                     outcome.errors))
    }
}

// 5. Commit throughput: 8 clients adding one document per request (one commit each), no searches.
do {
    let served = run.path("served")
    try? FileManager.default.removeItem(atPath: served)
    try FileManager.default.copyItem(atPath: pristine, toPath: served)
    let server = try Server(binary: plaidBinary, index: served, log: run.path("serve.log"))
    defer { server.stop() }
    let tally = Tally()
    let end = DispatchTime.now().uptimeNanoseconds + UInt64(loadSeconds * 1e9)
    let group = DispatchGroup()
    let documents = writerDocuments
    for client in 0..<8 {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            guard let connection = try? HTTPConnection(port: server.port) else { return }
            var serial = 0
            while DispatchTime.now().uptimeNanoseconds < end {
                serial += 1
                let body = Array("{\"documents\":[{\"id\":\"small-\(client)-\(serial)\",\"embeddings\":\(documents[(client * 25 + serial) % documents.count])}]}".utf8)
                let sent = DispatchTime.now().uptimeNanoseconds
                let answer = try? connection.send("POST", "/documents", body: body)
                let took = Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e9
                tally.add { if answer?.status == 201 { $0.writtenDocuments += 1; $0.writeSeconds.append(took) } else { $0.errors += 1 } }
            }
        }
    }
    group.wait()
    let total = tally.total
    let segments = try CompressedIndex(path: served).segments.count
    say(String(format: "one-document adds from 8 clients: %.1f commits/s, p50 %.0f ms, p99 %.0f ms, %d errors, %d segments after",
                 Double(total.writtenDocuments) / loadSeconds, median(total.writeSeconds) * 1000,
                 total.writeSeconds.sorted()[min(total.writeSeconds.count - 1, total.writeSeconds.count * 99 / 100)] * 1000, total.errors, segments))
}
