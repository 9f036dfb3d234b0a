import XCTest
import Foundation
import PlaidCore
import PlaidIndex

/// `plaid serve` as a client sees it: the real binary on a free loopback port.
final class ServerTests: PlaidCLITestCase {
    private let dim = 32

    /// A synthetic index of the first `documents` documents of a seeded corpus (with 20 queries
    /// beside its embeddings); `unindexed` gives documents of the same corpus past them.
    private func makeIndex(documents: Int = 400) throws -> (index: String, queries: QueryEmbeddings) {
        for (name, count) in [("embeddings", documents), ("pool", documents + 300)] {
            try plaid(["synthesize", "--documents", "\(count)", "--dim", "\(dim)", "--min-tokens", "10", "--max-tokens", "30",
                       "--queries", "20", "--seed", "3", "--output", path(name)])
        }
        try plaid(["build", "--embeddings", path("embeddings"), "--index", path("index"), "--centroids", "64"])
        indexed = documents
        return (path("index"), try QueryEmbeddings(directory: path("embeddings") + "/queries"))
    }

    private var indexed = 0

    /// Document `n` of the corpus past the indexed ones (in its distribution, so its own vectors find it), `[tokens][dim]`.
    private func unindexed(_ n: Int) throws -> [[Float]] {
        let pool = try DocumentEmbeddings(directory: path("pool"))
        let d = indexed + n
        precondition(d < pool.documentCount, "the pool holds 300 documents past the index")
        var flat = [Float](repeating: 0, count: pool.lengths[d] * dim)
        try flat.withUnsafeMutableBufferPointer { try pool.copyTokens(start: pool.offsets[d], count: pool.lengths[d], into: $0.baseAddress!) }
        return (0..<pool.lengths[d]).map { Array(flat[($0 * dim)..<(($0 + 1) * dim)]) }
    }

    /// Whether a search sees the document: a filter on its id returns it (exact scoring; no ranking involved).
    private func isVisible(_ id: String, on server: ServerProcess) throws -> Bool {
        let answer = try server.request("POST", "/search", ["query_embeddings": [vectors(2, seed: 1)], "k": 5, "filter": "id = ?", "filter_params": [id]])
        return hits(answer).map { $0["id"] as? String } == [id]
    }

    private func rows(_ q: QueryEmbeddings, _ i: Int) -> [[Float]] {
        let per = q.tokensPerQuery * q.dim
        return (0..<q.tokensPerQuery).map { t in Array(q.values[(i * per + t * q.dim)..<(i * per + (t + 1) * q.dim)]) }
    }

    /// Seeded unit vectors, `[tokens][dim]`.
    private func vectors(_ tokens: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededRandom(seed: seed)
        return (0..<tokens).map { _ in
            let v = (0..<dim).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
    }

    private func hits(_ answer: ServerProcess.Answer, query: Int = 0) -> [[String: Any]] {
        ((answer.json["results"] as? [[[String: Any]]]) ?? [])[safe: query] ?? []
    }

    /// Every endpoint without a model: search equals the library's, writes are visible to the
    /// next search and persist, /info is `plaid info --json`, /openapi.json is docs/openapi.json.
    func testEveryEndpointAnswersAsTheLibraryDoes() throws {
        let (index, queries) = try makeIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--threads", "2"])

        let health = try server.request("GET", "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json as NSDictionary, ["status": "ok"])

        let info = try server.request("GET", "/info")
        XCTAssertEqual(info.status, 200)
        let cliInfo = try JSONSerialization.jsonObject(with: Data(try plaid(["info", "--index", index, "--json"]).stdout.utf8)) as! [String: Any]
        XCTAssertEqual(info.json as NSDictionary, cliInfo as NSDictionary)

        let spec = try server.request("GET", "/openapi.json")
        XCTAssertEqual(spec.status, 200)
        XCTAssertEqual(spec.data, try Data(contentsOf: URL(fileURLWithPath: SciFactSlice.root + "/docs/openapi.json")))
        let paths = (try JSONSerialization.jsonObject(with: spec.data) as! [String: Any])["paths"] as! [String: [String: Any]]
        XCTAssertEqual(Set(paths.flatMap { path, methods in methods.keys.map { "\($0.uppercased()) \(path)" } }),
                       ["GET /health", "GET /info", "GET /openapi.json", "POST /search", "POST /documents", "DELETE /documents", "POST /rerank", "POST /encode"])

        // Search: the library's results on the same snapshot, ids and scores.
        let searcher = Searcher(index: try CompressedIndex(path: index))
        let answer = try server.request("POST", "/search", ["query_embeddings": (0..<5).map { rows(queries, $0) }, "k": 7])
        XCTAssertEqual(answer.status, 200, answer.error ?? "")
        XCTAssertNotNil(answer.json["took_ms"] as? Double)
        for q in 0..<5 {
            let expected = queries.values.withUnsafeBufferPointer {
                searcher.search(query: $0.baseAddress! + q * queries.tokensPerQuery * dim, tokens: queries.tokensPerQuery, parameters: SearchParameters(k: 7))
            }
            XCTAssertEqual(hits(answer, query: q).map { $0["id"] as! String }, expected.map(\.id))
            for (hit, want) in zip(hits(answer, query: q), expected) { XCTAssertEqual((hit["score"] as! Double), Double(want.score), accuracy: 1e-4) }
        }

        // Add with metadata: 201, found by its own vectors at once, filterable.
        let fresh = try (0..<3).map { try unindexed($0) }
        let added = try server.request("POST", "/documents", ["documents": fresh.enumerated().map { i, v in
            ["id": "new\(i)", "embeddings": v, "metadata": ["kind": "new", "rank": i, "tags": ["a", i]] as [String: Any]] as [String: Any]
        }])
        XCTAssertEqual(added.status, 201, added.error ?? "")
        XCTAssertEqual(added.json["added"] as? Int, 3)
        XCTAssertEqual(added.json["documents"] as? Int, 403)
        for i in 0..<3 {
            XCTAssertTrue(try isVisible("new\(i)", on: server))
            let found = hits(try server.request("POST", "/search", ["query_embeddings": [fresh[i]], "k": 10])).first { $0["id"] as? String == "new\(i)" }
            XCTAssertEqual(found?["metadata"] as? NSDictionary, ["kind": "new", "rank": i, "tags": ["a", i]] as NSDictionary, "new\(i) in its own top 10")
        }
        let filtered = try server.request("POST", "/search", ["query_embeddings": [rows(queries, 0)], "k": 10,
                                                              "filter": "kind = ? AND rank >= ?", "filter_params": ["new", 1]])
        XCTAssertEqual(Set(hits(filtered).map { $0["id"] as! String }), ["new1", "new2"])
        let bare = try server.request("POST", "/search", ["query_embeddings": [fresh[0]], "k": 5, "filter": "kind = 'new'", "include_metadata": false])
        XCTAssertEqual(hits(bare).count, 3)
        XCTAssertTrue(hits(bare).allSatisfy { $0["metadata"] == nil })

        // Probe defect: a NUL in a field name reached SQLite and was answered 500.
        let nulField = try server.request("POST", "/documents", ["documents": [["id": "n1", "embeddings": fresh[1], "metadata": ["a\u{0}b": 1]]]])
        XCTAssertEqual(nulField.status, 400, nulField.error ?? "")
        XCTAssertTrue(nulField.error?.contains("NUL") ?? false, nulField.error ?? "")

        // An id already live: refused without upsert, replaced (200) with it.
        let again = try server.request("POST", "/documents", ["documents": [["id": "new0", "embeddings": fresh[1]]]])
        XCTAssertEqual(again.status, 400)
        // The remedy in the API's terms, not the command line's.
        XCTAssertTrue(again.error?.contains("send \"upsert\": true") == true, again.error ?? "")
        XCTAssertFalse(again.error?.contains("--upsert") == true, again.error ?? "")
        let upserted = try server.request("POST", "/documents", ["documents": [["id": "new0", "embeddings": vectors(12, seed: 999)]], "upsert": true])
        XCTAssertEqual(upserted.status, 200, upserted.error ?? "")
        XCTAssertEqual(upserted.json["replaced"] as? Int, 1)

        // Delete: counts, and never found again.
        let deleted = try server.request("DELETE", "/documents", ["ids": ["new1", "no-such-id"]])
        XCTAssertEqual(deleted.status, 200, deleted.error ?? "")
        XCTAssertEqual(deleted.json["deleted"] as? Int, 1)
        XCTAssertEqual(deleted.json["unknown"] as? Int, 1)
        XCTAssertEqual(deleted.json["unknown_ids"] as? [String], ["no-such-id"])
        let afterDelete = hits(try server.request("POST", "/search", ["query_embeddings": [fresh[1]], "k": 50]))
        XCTAssertFalse(afterDelete.contains { $0["id"] as? String == "new1" })
        XCTAssertFalse(try isVisible("new1", on: server))

        // Rerank: exact MaxSim, best first, k kept.
        let query = vectors(4, seed: 7)
        let candidates = (0..<5).map { vectors(6, seed: 200 + UInt64($0)) }
        let reranked = try server.request("POST", "/rerank", ["query_embeddings": query, "k": 3,
                                                              "documents": candidates.enumerated().map { ["id": "c\($0)", "embeddings": $1] }])
        XCTAssertEqual(reranked.status, 200, reranked.error ?? "")
        func maxSim(_ d: [[Float]]) -> Double {
            query.reduce(0) { total, q in total + Double(d.map { zip(q, $0).reduce(Float(0)) { $0 + $1.0 * $1.1 } }.max()!) }
        }
        let order = candidates.indices.sorted { maxSim(candidates[$0]) > maxSim(candidates[$1]) }.prefix(3).map { "c\($0)" }
        let rerankHits = reranked.json["results"] as! [[String: Any]]
        XCTAssertEqual(rerankHits.map { $0["id"] as! String }, order)
        XCTAssertEqual(rerankHits[0]["score"] as! Double, maxSim(candidates[Int(order[0].dropFirst())!]), accuracy: 1e-4)

        // The writes were commits: a restarted server (and the library) sees them.
        XCTAssertEqual(server.stop(), 0, server.stderr)
        let reopened = try CompressedIndex(path: index)
        XCTAssertEqual(Set(reopened.liveDocumentIDs).intersection(["new0", "new1", "new2"]), ["new0", "new2"])
        XCTAssertEqual(reopened.documentCount, 402)
    }

    /// Every bad request gets a 400 or 413 whose body is one sentence naming the problem, and
    /// the server keeps serving.
    func testBadRequestsGetOneSentenceAndTheServerKeepsServing() throws {
        let (index, queries) = try makeIndex(documents: 100)
        let server = try ServerProcess(self, arguments: ["--index", index, "--max-body-mib", "1", "--max-items", "5"])
        let query = rows(queries, 0)
        let cases: [(name: String, method: String, path: String, body: Any?, status: Int, says: String)] = [
            ("malformed JSON", "POST", "/search", Data(#"{"query_embeddings": [[[0.1,"#.utf8), 400, "not valid JSON"),
            ("NaN", "POST", "/search", Data(#"{"query_embeddings": [[[NaN]]]}"#.utf8), 400, "not valid JSON"),
            ("infinity", "POST", "/search", Data("{\"query_embeddings\": [[[1e999\(String(repeating: ", 0", count: 31))]]]}".utf8), 400, "1e999"),
            ("empty body", "POST", "/search", nil, 400, "no body"),
            ("not an object", "POST", "/search", Data("[1, 2]".utf8), 400, "object"),
            ("wrong type", "POST", "/search", ["query_embeddings": [query], "k": "ten"], 400, "field k must be an integer"),
            ("wrong nested type", "POST", "/documents", ["documents": [["id": 5, "embeddings": query]]], 400, "documents[0].id must be a string"),
            ("unknown field", "POST", "/search", ["query_embeddings": [query], "filter_parms": ["x"]], 400, "filter_parms"),
            ("wrong dimension", "POST", "/search", ["query_embeddings": [[[Float](repeating: 0.1, count: 16)]]], 400, "dimension 32"),
            ("wrong dimension add", "POST", "/documents", ["documents": [["id": "x", "embeddings": [[Float](repeating: 0.1, count: 33)]]]], 400, "dimension 32"),
            ("k zero", "POST", "/search", ["query_embeddings": [query], "k": 0], 400, "between 1 and 1000"),
            ("k too large", "POST", "/search", ["query_embeddings": [query], "k": 1_001], 400, "between 1 and 1000 (--max-k)"),
            ("too many tokens", "POST", "/search", ["query_embeddings": [[[Float]](repeating: query[0], count: 513)]], 400, "limit is 512"),
            ("neither queries nor embeddings", "POST", "/search", ["k": 3], 400, "query_embeddings"),
            ("text without a model", "POST", "/search", ["queries": ["what is plaid?"]], 400, "--model"),
            ("document text without a model", "POST", "/documents", ["documents": [["id": "t", "text": "hello"]]], 400, "--model"),
            ("encode without a model", "POST", "/encode", ["texts": ["hello"], "mode": "query"], 400, "--model"),
            ("rerank text without a model", "POST", "/rerank", ["query": "hello", "documents": [["id": "a", "embeddings": query]]], 400, "--model"),
            ("bad mode", "POST", "/encode", ["texts": ["hello"], "mode": "sideways"], 400, "\"query\" or \"document\""),
            ("bad filter", "POST", "/search", ["query_embeddings": [query], "filter": "no_such_field = 1"], 400, "no_such_field"),
            ("filter writes", "POST", "/search", ["query_embeddings": [query], "filter": "1; DROP TABLE documents"], 400, "filter"),
            ("empty ids", "DELETE", "/documents", ["ids": [String]()], 400, "ids is empty"),
            ("too many items", "DELETE", "/documents", ["ids": (0..<6).map { "d\($0)" }], 413, "limit is 5"),
            ("body too large", "POST", "/search", Data(("{\"query_embeddings\": [[[" + String(repeating: "0.1,", count: 300_000) + "0.1]]]}").utf8), 413, "limit"),
            ("unknown route", "GET", "/nowhere", nil, 404, "/openapi.json"),
            ("wrong method", "GET", "/search", nil, 404, "GET /search"),
        ]
        let before = try indexFiles(index)
        for c in cases {
            let answer = try server.request(c.method, c.path, c.body)
            XCTAssertEqual(answer.status, c.status, "\(c.name): \(String(decoding: answer.data, as: UTF8.self))")
            XCTAssertEqual(Array(answer.json.keys), ["error"], "\(c.name): \(String(decoding: answer.data, as: UTF8.self))")
            let message = answer.error ?? ""
            XCTAssertTrue(message.contains(c.says), "\(c.name): \(message)")
            XCTAssertFalse(message.contains("\n") || message.contains("Error Domain") || message.contains("Swift."), "\(c.name): \(message)")
            XCTAssertEqual(try server.request("GET", "/health").status, 200, "after \(c.name)")
        }
        XCTAssertEqual(try indexFiles(index), before, "refused requests changed the index")
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// Searches run while writes commit: none fails or waits for a write, every answer holds
    /// only documents live at some commit, and an answered add is found by the next search.
    func testSearchesRunDuringWritesAndSeeEachAnsweredCommit() throws {
        let (index, queries) = try makeIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--threads", "2"])
        let everID = NSLock()
        var known = Set(try CompressedIndex(path: index).liveDocumentIDs)
        var failures: [String] = []
        var searches = 0
        let writing = DispatchGroup()
        writing.enter()
        var writerDone = false
        let stop = NSLock()
        DispatchQueue.global().async {
            defer { writing.leave() }
            for round in 0..<8 {
                guard let batch = try? (0..<20).map({ (id: "w\(round)-\($0)", vectors: try self.unindexed(round * 20 + $0)) }) else { return }
                everID.lock(); known.formUnion(batch.map(\.id)); everID.unlock()
                guard let added = try? server.request("POST", "/documents", ["documents": batch.map { ["id": $0.id, "embeddings": $0.vectors] }]),
                      added.status == 201 else { stop.lock(); failures.append("add \(round) failed"); stop.unlock(); return }
                // Visible to the next search, as soon as the add is answered; gone as soon as a delete is.
                if (try? self.isVisible(batch[7].id, on: server)) != true { stop.lock(); failures.append("\(batch[7].id) not seen after its add"); stop.unlock() }
                if round % 3 == 2 {
                    let gone = "w\(round - 1)-3"
                    _ = try? server.request("DELETE", "/documents", ["ids": [gone]])
                    if (try? self.isVisible(gone, on: server)) != false { stop.lock(); failures.append("\(gone) seen after its delete"); stop.unlock() }
                }
            }
            stop.lock(); writerDone = true; stop.unlock()
        }
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            var q = worker
            while true {
                stop.lock(); let done = writerDone || failures.count > 0; stop.unlock()
                if done { break }
                let answer = (try? server.request("POST", "/search", ["query_embeddings": [rows(queries, q % queries.count)], "k": 10]))
                stop.lock()
                searches += 1
                if answer?.status != 200 { failures.append("search \(q): \(answer.map { String(decoding: $0.data, as: UTF8.self) } ?? "no answer")") }
                everID.lock()
                let ids = answer.map { hits($0).compactMap { $0["id"] as? String } } ?? []
                if let stray = ids.first(where: { !known.contains($0) }) { failures.append("search returned \(stray), never added") }
                everID.unlock()
                stop.unlock()
                q += 3
            }
        }
        writing.wait()
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(searches, 8, "searches ran alongside the writes")
        let info = try server.request("GET", "/info").json
        XCTAssertEqual(info["documents"] as? Int, 400 + 8 * 20 - 2)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// SIGTERM while a large add is in flight: the add is answered and committed, then the
    /// server exits 0 and frees the writer lock.
    func testSIGTERMFinishesTheWriteInFlight() throws {
        let (index, _) = try makeIndex(documents: 100)
        let server = try ServerProcess(self, arguments: ["--index", index])
        let batch = (0..<3_000).map { ["id": "late\($0)", "embeddings": vectors(20, seed: UInt64(5_000 + $0))] as [String: Any] }
        let body = try JSONSerialization.data(withJSONObject: ["documents": batch])
        var answer: ServerProcess.Answer?
        let sent = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            answer = try? server.request("POST", "/documents", body)
            sent.signal()
        }
        // Past the upload, inside the write (3,000 documents take well over this to code and commit).
        Thread.sleep(forTimeInterval: 0.5)
        kill(server.process.processIdentifier, SIGTERM)
        sent.wait()
        server.process.waitUntilExit()
        XCTAssertEqual(server.process.terminationStatus, 0, server.stderr)
        XCTAssertEqual(answer?.status, 201, answer.map { String(decoding: $0.data, as: UTF8.self) } ?? "no answer")
        XCTAssertEqual(try CompressedIndex(path: index).documentCount, 3_100)
        try plaid(["delete", "--index", index, "--id", "late0"])   // the lock is free
    }

    /// `kill -9` during a write: a restarted server opens the index at the last answered commit
    /// (or the killed one's, if its commit had landed): never a partial one, never losing an answered write.
    func testKill9DuringAWriteRestartsAtTheLastAnsweredCommit() throws {
        let (index, _) = try makeIndex(documents: 100)
        var answered = Set(try CompressedIndex(path: index).liveDocumentIDs)
        for (round, delay) in [0.05, 0.3, 0.8].enumerated() {
            let server = try ServerProcess(self, arguments: ["--index", index])
            let small = (0..<5).map { "kept\(round)-\($0)" }
            let added = try server.request("POST", "/documents", ["documents": small.enumerated().map { ["id": $1, "embeddings": vectors(10, seed: UInt64(round * 100 + $0))] }])
            XCTAssertEqual(added.status, 201, added.error ?? "")
            answered.formUnion(small)
            let big = (0..<2_000).map { "lost\(round)-\($0)" }
            let body = try JSONSerialization.data(withJSONObject: ["documents": big.enumerated().map { ["id": $1, "embeddings": vectors(20, seed: UInt64(round * 10_000 + $0))] }])
            DispatchQueue.global().async { _ = try? server.request("POST", "/documents", body, timeout: 30) }
            Thread.sleep(forTimeInterval: delay)
            XCTAssertEqual(server.stop(signal: SIGKILL), 9)
            let live = Set(try CompressedIndex(path: index).liveDocumentIDs)   // every checksum verified
            XCTAssertTrue(live == answered || live == answered.union(big), "round \(round): \(live.count) live documents, \(answered.count) answered")
            answered = live
            let restarted = try ServerProcess(self, arguments: ["--index", index])
            XCTAssertEqual(try restarted.request("GET", "/info").json["documents"] as? Int, live.count)
            XCTAssertEqual(restarted.stop(), 0, restarted.stderr)
        }
    }

    /// `--create --dim` starts an empty index; the first add trains its codebook, and the
    /// documents are found.
    func testCreateStartsAnEmptyIndexThatTheFirstAddTrains() throws {
        let index = path("fresh")
        let server = try ServerProcess(self, arguments: ["--index", index, "--create", "--dim", "\(dim)"])
        XCTAssertEqual(try server.request("GET", "/info").json["documents"] as? Int, 0)
        XCTAssertEqual(hits(try server.request("POST", "/search", ["query_embeddings": [vectors(4, seed: 1)]])).count, 0)
        let documents = (0..<60).map { (id: "d\($0)", vectors: vectors(16, seed: UInt64(300 + $0))) }
        let added = try server.request("POST", "/documents", ["documents": documents.map { ["id": $0.id, "embeddings": $0.vectors] }])
        XCTAssertEqual(added.status, 201, added.error ?? "")
        let info = try server.request("GET", "/info").json
        XCTAssertEqual(info["documents"] as? Int, 60)
        XCTAssertGreaterThan(info["centroids"] as? Int ?? 0, 0)
        for d in [0, 17, 59] {
            XCTAssertEqual(hits(try server.request("POST", "/search", ["query_embeddings": [documents[d].vectors], "k": 1])).first?["id"] as? String, "d\(d)")
        }
        XCTAssertEqual(server.stop(signal: SIGINT), 0, server.stderr)
        XCTAssertEqual(try CompressedIndex(path: index).documentCount, 60)
    }

    /// With --model: text queries give `plaid query`'s results, /encode gives the model's
    /// vectors, text documents are added and found, and /rerank takes texts.
    func testTextRequestsWithTheModel() throws {
        try SciFactSlice.requireModel()
        let data = try SciFactSlice.make(at: path("scifact"), documents: 40)
        try plaid(["build", "--collection", data + "/corpus.jsonl", "--index", path("index"), "--model", SciFactSlice.model])
        let server = try ServerProcess(self, arguments: ["--index", path("index"), "--model", SciFactSlice.model])
        let text = "Vitamin D deficiency is linked to disease"
        try #"{"_id": "q1", "text": "Vitamin D deficiency is linked to disease"}"#.write(toFile: path("q.jsonl"), atomically: true, encoding: .utf8)
        try plaid(["query", "--index", path("index"), "--queries", path("q.jsonl"), "--k", "5", "--output", path("run.tsv"), "--model", SciFactSlice.model])
        let cliIDs = try String(contentsOfFile: path("run.tsv"), encoding: .utf8).split(separator: "\n").map { String($0.split(separator: " ")[2]) }
        let answer = try server.request("POST", "/search", ["queries": [text], "k": 5])
        XCTAssertEqual(answer.status, 200, answer.error ?? "")
        XCTAssertEqual(hits(answer).map { $0["id"] as! String }, cliIDs)

        let encoded = try server.request("POST", "/encode", ["texts": [text, "short"], "mode": "query"])
        XCTAssertEqual(encoded.status, 200, encoded.error ?? "")
        let vectorsOut = encoded.json["embeddings"] as! [[[Double]]]
        XCTAssertEqual(vectorsOut.count, 2)
        XCTAssertEqual(vectorsOut[0].count, 32, "query_length vectors")
        XCTAssertEqual(vectorsOut[0][0].count, encoded.json["dim"] as? Int)
        let documentVectors = try server.request("POST", "/encode", ["texts": [text], "mode": "document"]).json["embeddings"] as! [[[Double]]]
        // Embeddings from /encode searched as numbers give the same hits as the text.
        let byVectors = try server.request("POST", "/search", ["query_embeddings": [vectorsOut[0]], "k": 5])
        XCTAssertEqual(hits(byVectors).map { $0["id"] as! String }, cliIDs)

        let added = try server.request("POST", "/documents", ["documents": [["id": "mine", "text": text, "metadata": ["source": "test"]]]])
        XCTAssertEqual(added.status, 201, added.error ?? "")
        XCTAssertEqual(hits(try server.request("POST", "/search", ["queries": [text], "k": 1])).first?["id"] as? String, "mine")
        XCTAssertEqual(hits(try server.request("POST", "/search", ["query_embeddings": [documentVectors[0]], "k": 1])).first?["id"] as? String, "mine")

        let reranked = try server.request("POST", "/rerank", ["query": text, "documents": [["id": "off", "text": "Quantum chromodynamics of gluons"], ["id": "on", "text": text]]])
        XCTAssertEqual(reranked.status, 200, reranked.error ?? "")
        XCTAssertEqual((reranked.json["results"] as! [[String: Any]]).map { $0["id"] as! String }, ["on", "off"])
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// An index made with --store-text: text documents added through the server keep their text,
    /// /search takes "mode", "fusion" and "include_text" and answers as `plaid query --mode` does,
    /// and the mistakes are one sentence each.
    func testTextModesOverHTTP() throws {
        try SciFactSlice.requireModel()
        let data = try SciFactSlice.make(at: path("scifact"), documents: 40)
        try plaid(["build", "--collection", data + "/corpus.jsonl", "--index", path("index"), "--model", SciFactSlice.model,
                   "--centroids", "32", "--store-text"])
        try plaid(["build", "--collection", data + "/corpus.jsonl", "--index", path("plain"), "--model", SciFactSlice.model, "--centroids", "32"])
        let text = "Vitamin D deficiency is linked to disease"
        try #"{"_id": "q1", "text": "Vitamin D deficiency is linked to disease"}"#.write(toFile: path("q.jsonl"), atomically: true, encoding: .utf8)
        let server = try ServerProcess(self, arguments: ["--index", path("index"), "--model", SciFactSlice.model])
        for (mode, extra) in [("bm25", [String]()), ("hybrid", []), ("hybrid", ["--fusion", "rrf"])] {
            try plaid(["query", "--index", path("index"), "--queries", path("q.jsonl"), "--k", "5", "--mode", mode, "--output", path("run.tsv"),
                       "--model", SciFactSlice.model] + extra)
            let cliIDs = try String(contentsOfFile: path("run.tsv"), encoding: .utf8).split(separator: "\n").map { String($0.split(separator: " ")[2]) }
            var request: [String: Any] = ["queries": [text], "k": 5, "mode": mode]
            if extra.count == 2 { request["fusion"] = extra[1] }
            let answer = try server.request("POST", "/search", request)
            XCTAssertEqual(answer.status, 200, answer.error ?? "")
            XCTAssertEqual(hits(answer).map { $0["id"] as! String }, cliIDs, "\(mode) \(extra)")
            XCTAssertNil(hits(answer).first?["text"], "no text unless asked for")
        }
        let matched = try server.request("POST", "/search", ["queries": [text], "k": 2, "mode": "hybrid", "matches": true])
        XCTAssertEqual(matched.status, 200, matched.error ?? "")
        for hit in hits(matched) {
            let entries = hit["matches"] as! [[String: Any]]
            XCTAssertEqual(entries.count, 32, "one per query vector")
            XCTAssertTrue(entries.contains { $0["query_text"] as? String == "vitamin" && $0["document_text"] != nil }, "\(entries)")
            let span = entries.first { $0["query_text"] as? String == "vitamin" }?["document_span"] as? [String: Any]
            XCTAssertTrue(["title", "text"].contains(span?["field"] as? String) && (span?["end"] as? Int ?? 0) > (span?["start"] as? Int ?? 0), "\(entries)")
            let sum = entries.reduce(0.0) { $0 + ($1["score"] as! Double) }
            XCTAssertEqual(hit["maxsim"] as? Double ?? -1, sum, accuracy: 1e-3, "a hit with matches carries their sum")
            let plain = try server.request("POST", "/search", ["queries": [text], "k": 40])
            let score = hits(plain).first { $0["id"] as? String == hit["id"] as? String }?["score"] as? Double
            if let score { XCTAssertEqual(sum, score, accuracy: 0.05, "the matches sum to the MaxSim") }
        }
        // Probe defect: a NUL was stored by the server though the command line refuses it.
        let nul = try server.request("POST", "/documents", ["documents": [["id": "n1", "text": "abc\u{0}def"]]])
        XCTAssertEqual(nul.status, 400)
        XCTAssertTrue(nul.error?.contains("NUL") ?? false, nul.error ?? "")
        let added = try server.request("POST", "/documents", ["documents": [["id": "mine", "text": "Zebrafish fins regenerate"]]])
        XCTAssertEqual(added.status, 201, added.error ?? "")
        let found = try server.request("POST", "/search", ["queries": ["zebrafish"], "k": 3, "mode": "bm25", "include_text": true])
        XCTAssertEqual(hits(found).map { $0["id"] as! String }, ["mine"])
        XCTAssertEqual(hits(found).first?["text"] as? String, "Zebrafish fins regenerate")
        for (body, expected) in [
            (["query_embeddings": [[[Double](repeating: 0.1, count: 384)]], "mode": "bm25"] as [String: Any], "queries' text"),
            (["queries": [text], "mode": "splade"], "field mode"),
            (["queries": [text], "mode": "bm25", "fusion": "rrf"], "go with"),
            (["queries": [text], "mode": "hybrid", "fusion": "rrf", "alpha": 0.3], "alpha"),
            (["queries": [text], "mode": "hybrid", "alpha": 2], "alpha"),
        ] {
            let refused = try server.request("POST", "/search", body)
            XCTAssertEqual(refused.status, 400, "\(body)")
            XCTAssertTrue(refused.error?.contains(expected) ?? false, "\(body): \(refused.error ?? "")")
        }
        XCTAssertEqual(server.stop(), 0, server.stderr)
        // Probe defect: include_text repeated each hit's text without bound; the answer's texts
        // are bounded as a request body is.
        let small = try ServerProcess(self, arguments: ["--index", path("index"), "--model", SciFactSlice.model, "--max-body-mib", "1"])
        let many = try small.request("POST", "/search", ["queries": [String](repeating: "cancer cells", count: 100), "k": 40, "mode": "bm25", "include_text": true])
        XCTAssertEqual(many.status, 413, many.error ?? "")
        XCTAssertTrue(many.error?.contains("include_text") ?? false, many.error ?? "")
        XCTAssertEqual(small.stop(), 0, small.stderr)
        // Started with a relative index path: no server path reaches the client either way.
        let plain = try ServerProcess(self, arguments: ["--index", "plain", "--model", SciFactSlice.model], workingDirectory: directory)
        let refused = try plain.request("POST", "/search", ["queries": [text], "mode": "hybrid"])
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(refused.error?.contains("stores no text") ?? false, refused.error ?? "")
        XCTAssertFalse(refused.error?.contains("plain") ?? true, "no server path: \(refused.error ?? "")")
        XCTAssertEqual(plain.stop(), 0, plain.stderr)
    }

    /// `serve --pool-factor 2` pools the documents it encodes (the vectors /encode returns for a
    /// document are `plaid encode`'s, pooled by `TokenPooling`) and adds them so; queries are not pooled.
    func testPoolFactorPoolsTheDocumentsTheServerEncodes() throws {
        try SciFactSlice.requireModel()
        let data = try SciFactSlice.make(at: path("scifact"), documents: 40)
        try plaid(["build", "--collection", data + "/corpus.jsonl", "--index", path("index"), "--model", SciFactSlice.model, "--centroids", "32"])
        let server = try ServerProcess(self, arguments: ["--index", path("index"), "--model", SciFactSlice.model, "--pool-factor", "2"])
        let text = "Vitamin D deficiency is linked to disease in several large cohorts of older adults"
        try #"{"_id": "d", "text": "\#(text)"}"#.write(toFile: path("d.jsonl"), atomically: true, encoding: .utf8)
        try plaid(["encode", "--collection", path("d.jsonl"), "--output-dir", path("d"), "--model", SciFactSlice.model])
        let array = try NPYArray(path: path("d/doc_embeddings.npy"))
        var full = [Float](repeating: 0, count: array.elementCount)
        full.withUnsafeMutableBufferPointer { array.copyFloats(start: 0, count: array.elementCount, into: $0.baseAddress!) }
        let expected = TokenPooling.pool(full, dimension: 384, factor: 2)
        let served = try server.request("POST", "/encode", ["texts": [text], "mode": "document"])
        XCTAssertEqual(served.status, 200, served.error ?? "")
        let vectors = (served.json["embeddings"] as! [[[Double]]])[0]
        XCTAssertEqual(vectors.count * 384, expected.count)
        XCTAssertLessThan(expected.count, full.count)
        for (a, b) in zip(vectors.joined(), expected) { XCTAssertEqual(Float(a), b, accuracy: 1e-6) }
        let query = try server.request("POST", "/encode", ["texts": [text], "mode": "query"])
        XCTAssertEqual((query.json["embeddings"] as! [[[Double]]])[0].count, 32, "queries keep query_length vectors")
        let added = try server.request("POST", "/documents", ["documents": [["id": "mine", "text": text]]])
        XCTAssertEqual(added.status, 201, added.error ?? "")
        XCTAssertEqual(hits(try server.request("POST", "/search", ["queries": [text], "k": 1])).first?["id"] as? String, "mine")
        XCTAssertEqual(server.stop(), 0, server.stderr)
        let refused = try plaid(["serve", "--index", path("index"), "--pool-factor", "2"], expect: nil)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("needs --model"), refused.stderr)
    }
}

private extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
