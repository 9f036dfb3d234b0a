import XCTest
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import PlaidServer
import PlaidCore
import PlaidIndex

/// Each route in process (`app.test(.router)`): its answer is the library's, translated.
final class RoutesTests: ServerTestCase {
    /// Searches by vectors give the library's hits and scores, with metadata unless refused;
    /// a filter and its parameters narrow them.
    func testSearchAnswersAsTheLibrary() async throws {
        let served = try serve()
        let searcher = Searcher(index: try CompressedIndex(path: served.index))
        let queries = (0..<3).map { ServedIndex.vectors(3 + $0, seed: UInt64(50 + $0)) }
        try await served.application.test(.router) { client in
            let answer = try await client.send(.post, "/search", ["query_embeddings": queries, "k": 5])
            XCTAssertEqual(answer.status, .ok, answer.error ?? "")
            XCTAssertNotNil(answer.json["took_ms"] as? Double)
            for (q, query) in queries.enumerated() {
                let expected = query.flatMap { $0 }.withUnsafeBufferPointer {
                    searcher.search(query: $0.baseAddress!, tokens: query.count, parameters: SearchParameters(k: 5))
                }
                XCTAssertEqual(answer.hits(q).compactMap { $0["id"] as? String }, expected.map(\.id))
                XCTAssertEqual(answer.hits(q).map { Float($0["score"] as? Double ?? .nan) }, expected.map(\.score))
                for (hit, result) in zip(answer.hits(q), expected) {
                    let n = Int(result.id.dropFirst())!
                    XCTAssertEqual(hit["metadata"] as? NSDictionary, ["shelf": n % 3, "name": "document \(n)"] as NSDictionary)
                }
            }
            let filtered = try await client.send(.post, "/search", ["query_embeddings": [queries[0]], "k": 60,
                                                                    "filter": "shelf = ? AND name != ?", "filter_params": [1, "document 4"]])
            XCTAssertEqual(filtered.status, .ok, filtered.error ?? "")
            XCTAssertEqual(Set(filtered.hits().compactMap { $0["id"] as? String }),
                           Set(stride(from: 1, to: 60, by: 3).filter { $0 != 4 }.map { "d\($0)" }))
            let bare = try await client.send(.post, "/search", ["query_embeddings": [queries[0]], "k": 5, "include_metadata": false])
            XCTAssertEqual(bare.hits().compactMap { $0["id"] as? String }, answer.hits(0).compactMap { $0["id"] as? String })
            XCTAssertTrue(bare.hits().allSatisfy { $0["metadata"] == nil })
        }
    }

    /// Adds answer 201 (200 when they replace), deletes name the unknown ids, and each write
    /// is the next search's; /info is the index's description and /health answers.
    func testWritesAreCommittedAndSeenByTheNextRequest() async throws {
        let served = try serve()
        let fresh = ServedIndex.vectors(6, seed: 7)
        try await served.application.test(.router) { client in
            let health = try await client.send(.get, "/health")
            XCTAssertEqual(health.json as NSDictionary, ["status": "ok"])
            let added = try await client.send(.post, "/documents", ["documents": [["id": "new", "embeddings": fresh, "metadata": ["shelf": 9]]]])
            XCTAssertEqual(added.status, .created, added.error ?? "")
            let generation = try CompressedIndex(path: served.index).generation
            XCTAssertEqual(added.json as NSDictionary, ["added": 1, "replaced": 0, "tokens": 6, "new_centroids": added.json["new_centroids"] as? Int ?? -1,
                                                         "generation": generation, "documents": 61] as NSDictionary)
            let found = try await client.send(.post, "/search", ["query_embeddings": [fresh], "k": 1])
            XCTAssertEqual(found.hits().first?["id"] as? String, "new")
            XCTAssertEqual(found.hits().first?["metadata"] as? NSDictionary, ["shelf": 9] as NSDictionary)

            let replaced = try await client.send(.post, "/documents", ["documents": [["id": "new", "embeddings": fresh]], "upsert": true])
            XCTAssertEqual(replaced.status, .ok, replaced.error ?? "")
            XCTAssertEqual(replaced.json["replaced"] as? Int, 1)
            XCTAssertEqual(replaced.json["added"] as? Int, 0)

            let deleted = try await client.send(.delete, "/documents", ["ids": ["new", "d3", "nobody"]])
            XCTAssertEqual(deleted.status, .ok, deleted.error ?? "")
            XCTAssertEqual(deleted.json as NSDictionary, ["deleted": 2, "unknown": 1, "unknown_ids": ["nobody"], "generation": generation + 2, "documents": 59] as NSDictionary)
            XCTAssertEqual(try CompressedIndex(path: served.index).generation, generation + 2)
            let after = try await client.send(.post, "/search", ["query_embeddings": [fresh], "k": 60])
            XCTAssertFalse(after.hits().contains { ["new", "d3"].contains($0["id"] as? String) })

            let info = try await client.send(.get, "/info")
            let description = try JSONSerialization.jsonObject(with: try IndexDescription(try CompressedIndex(path: served.index)).json())
            XCTAssertEqual(info.json as NSDictionary, description as? NSDictionary)
        }
    }

    /// Rerank is exact MaxSim (the library's `Reranker`), best first, k kept; /openapi.json is
    /// docs/openapi.json.
    func testRerankAndTheSpecification() async throws {
        let served = try serve()
        let query = ServedIndex.vectors(4, seed: 11)
        let candidates = (0..<5).map { ServedIndex.vectors(3 + $0, seed: 300 + UInt64($0)) }
        try await served.application.test(.router) { client in
            let answer = try await client.send(.post, "/rerank", ["query_embeddings": query, "k": 3,
                                                                  "documents": candidates.enumerated().map { ["id": "c\($0)", "embeddings": $1] }])
            XCTAssertEqual(answer.status, .ok, answer.error ?? "")
            let expected = Reranker.rerank(query: query.flatMap { $0 }, dim: ServedIndex.dim,
                                           documents: candidates.enumerated().map { .init(id: "c\($0)", vectors: $1.flatMap { $0 }) }, k: 3)
            let hits = answer.json["results"] as? [[String: Any]] ?? []
            XCTAssertEqual(hits.compactMap { $0["id"] as? String }, expected.map(\.id))
            XCTAssertEqual(hits.map { Float($0["score"] as? Double ?? .nan) }, expected.map(\.score))
            XCTAssertNotNil(answer.json["took_ms"] as? Double)

            let spec = try await client.send(.get, "/openapi.json")
            let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json")
            XCTAssertEqual(spec.body, try Data(contentsOf: docs))
        }
    }

    /// With a model, texts are encoded the library's one way (`TextEncoder.vectors`, chunks of
    /// 32, batches of 32): /encode gives its vectors, a text query searches as its vectors padded
    /// to the query length, text documents are added as theirs, and rerank takes texts.
    func testTextsAreEncodedTheLibrarysWay() async throws {
        let encoder = WordEncoder()
        let served = try serve(encoder: encoder)
        let reference = WordEncoder()
        let texts = (0..<40).map { "text \($0) of words \($0 % 7) alpha" }
        try await served.application.test(.router) { client in
            let documents = try await client.send(.post, "/encode", ["texts": texts, "mode": "document"])
            XCTAssertEqual(documents.status, .ok, documents.error ?? "")
            XCTAssertEqual(documents.json["dim"] as? Int, ServedIndex.dim)
            let expected = try reference.vectors(of: texts, as: .document, chunk: 32, batchSize: 32)
            XCTAssertEqual((documents.json["embeddings"] as? [[[Double]]])?.map { $0.flatMap { $0.map(Float.init) } }, expected)
            XCTAssertEqual(encoder.calls, [.init(kind: "documents", texts: 32, batchSize: 32), .init(kind: "documents", texts: 8, batchSize: 32)])

            let queries = try await client.send(.post, "/encode", ["texts": ["one two", "three"], "mode": "query"])
            XCTAssertEqual((queries.json["embeddings"] as? [[[Double]]])?.map { $0.count }, [2, 1], "query vectors as the model gives them")

            // A text query searches as the padded vectors `encodeQueryEmbeddings` gives.
            let padded = try reference.encodeQueryEmbeddings(ids: ["q"], texts: ["text 3 of words"], batchSize: 32)
            let byText = try await client.send(.post, "/search", ["queries": ["text 3 of words"], "k": 8])
            let byVectors = try await client.send(.post, "/search", ["query_embeddings": [ServedIndex.rows(padded.values)], "k": 8])
            XCTAssertEqual(byText.status, .ok, byText.error ?? "")
            XCTAssertEqual(byText.hits().map { $0["id"] as? String }, byVectors.hits().map { $0["id"] as? String })
            XCTAssertEqual(byText.hits().map { $0["score"] as? Double }, byVectors.hits().map { $0["score"] as? Double })

            // Text and vectors in one add; the text is stored as the model's vectors.
            let added = try await client.send(.post, "/documents", ["documents": [["id": "words", "text": "gamma delta epsilon"],
                                                                                  ["id": "numbers", "embeddings": ServedIndex.vectors(3, seed: 5)]]])
            XCTAssertEqual(added.status, .created, added.error ?? "")
            XCTAssertEqual(added.json["tokens"] as? Int, 6)
            let stored = try reference.vectors(of: ["gamma delta epsilon"], as: .document, chunk: 32, batchSize: 32)[0]
            let found = try await client.send(.post, "/search", ["query_embeddings": [ServedIndex.rows(stored)], "k": 1])
            XCTAssertEqual(found.hits().first?["id"] as? String, "words")

            let reranked = try await client.send(.post, "/rerank", ["query": "delta alpha", "documents": [["id": "far", "text": "zeta eta"],
                                                                                                       ["id": "near", "text": "delta alpha"]]])
            XCTAssertEqual(reranked.status, .ok, reranked.error ?? "")
            let rerankQuery = try reference.encodeQueryEmbeddings(ids: ["q"], texts: ["delta alpha"], batchSize: 32).values
            let expected2 = Reranker.rerank(query: rerankQuery, dim: ServedIndex.dim, documents: [
                .init(id: "far", vectors: try reference.vectors(of: ["zeta eta"], as: .document, chunk: 32, batchSize: 32)[0]),
                .init(id: "near", vectors: try reference.vectors(of: ["delta alpha"], as: .document, chunk: 32, batchSize: 32)[0]),
            ])
            let hits = reranked.json["results"] as? [[String: Any]] ?? []
            XCTAssertEqual(hits.compactMap { $0["id"] as? String }, expected2.map(\.id))
            XCTAssertEqual(hits.map { Float($0["score"] as? Double ?? .nan) }, expected2.map(\.score))
        }
        XCTAssertFalse(encoder.calls.contains { $0.kind == "query embeddings" }, "the server encodes through TextEncoder.vectors only")
    }

    /// The deadline is checked before each chunk of texts: a request whose first chunk takes
    /// it past the deadline encodes no second one, and is answered 503.
    func testTheDeadlineStopsEncodingBetweenChunks() async throws {
        let encoder = WordEncoder()
        let served = try serve(encoder: encoder) { $0.limits.requestTimeout = 1 }
        encoder.delay = 1.5
        try await served.application.test(.router) { client in
            let answer = try await client.send(.post, "/encode", ["texts": (0..<40).map { "text \($0)" }, "mode": "document"])
            XCTAssertEqual(answer.status, .serviceUnavailable, answer.error ?? "")
            XCTAssertEqual(answer.error, "the request ran past the server's limit of 1 s (--request-timeout); send fewer or smaller queries or texts per request")
        }
        XCTAssertEqual(encoder.calls.count, 1)
    }

    /// The application `plaid serve` runs answers over a socket too, behind its own head checks.
    func testTheApplicationServesOverASocket() async throws {
        let served = try serve()
        try await served.application.test(.live) { client in
            let health = try await client.send(.get, "/health")
            XCTAssertEqual(health.status, .ok)
            let answer = try await client.send(.post, "/search", ["query_embeddings": [ServedIndex.rows(served.documents[7])], "k": 1])
            XCTAssertEqual(answer.hits().first?["id"] as? String, "d7")
            let unknown = try await client.send(.get, "/nowhere")
            XCTAssertEqual(unknown.status, .notFound)
            XCTAssertEqual(unknown.error, "no route GET /nowhere; GET /openapi.json lists the API")
        }
    }
}
