import XCTest
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import PlaidServer
import PlaidCore
import PlaidIndex

/// Who may call the API, and how much one request may ask, checked before any work.
final class AccessAndLimitsTests: ServerTestCase {
    private let key = "s3cret-token-of-some-length"

    /// With an API key every route but /health needs `Authorization: Bearer KEY` (the scheme in
    /// any case); a foreign Origin is refused even with the key.
    func testAPIKeyAndOrigin() async throws {
        let served = try serve { $0.apiKey = self.key }
        let key = self.key
        try await served.application.test(.router) { client in
            let health = try await client.send(.get, "/health")
            XCTAssertEqual(health.status, .ok)
            for authorization in [nil, "Bearer wrong", "Basic czNjcmV0", "Bearer \(key)-and-more"] {
                let answer = try await client.send(.get, "/info", headers: authorization.map { [.authorization: $0] } ?? [:])
                XCTAssertEqual(answer.status, .unauthorized, authorization ?? "none")
                XCTAssertEqual(answer.headers[.wwwAuthenticate], "Bearer")
                XCTAssertEqual(answer.error, "the request has no valid API key; send the header Authorization: Bearer KEY with the key in the server's --api-key-file")
            }
            for scheme in ["Bearer", "bearer", "BEARER"] {
                let answer = try await client.send(.get, "/info", headers: [.authorization: "\(scheme) \(key)"])
                XCTAssertEqual(answer.status, .ok, scheme)
            }
            let foreign = try await client.send(.post, "/documents", ["documents": [["id": "x", "embeddings": ServedIndex.vectors(1, seed: 1)]]],
                                                headers: [.authorization: "Bearer \(key)", .origin: "http://evil.example"])
            XCTAssertEqual(foreign.status, .forbidden)
            XCTAssertEqual(foreign.error, "the request's Origin http://evil.example is another site, and the API answers no cross-origin browser requests; call it from a program or from its own origin")
            let own = try await client.send(.get, "/info", headers: [.authorization: "Bearer \(key)", .origin: "http://localhost"])
            XCTAssertEqual(own.status, .ok)
            XCTAssertEqual(own.json["documents"] as? Int, 60, "the refused add changed the index")
        }
    }

    /// `Host` must name the server: a loopback name (with the bound port, or none), the bound
    /// host, or an allowed host; any other is a 421.
    func testHostMustNameTheServer() throws {
        let policy = AccessPolicy(host: "127.0.0.1", allowedHosts: ["plaid.internal"], apiKey: nil, port: BoundPort(8080))
        func check(_ authority: String?, _ path: String = "/info") throws {
            try policy.check(Request(head: HTTPRequest(method: .get, scheme: "http", authority: authority, path: path),
                                     body: RequestBody(buffer: ByteBuffer())))
        }
        for authority in ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "plaid.internal", "plaid.internal:443"] {
            XCTAssertNoThrow(try check(authority), authority)
        }
        for (authority, named) in [("evil.example", "Host evil.example"), ("localhost:1", "Host localhost:1"), (nil, "no Host header")] {
            XCTAssertThrowsError(try check(authority)) { error in
                let answer = APIError.from(error)
                XCTAssertEqual(answer.status, .misdirectedRequest)
                XCTAssertEqual(answer.message, "the request gives \(named), a name this server does not answer to; call it by 127.0.0.1 or localhost, or start it with --allowed-host NAME")
            }
        }
        XCTAssertNoThrow(try check("10.1.2.3:8080", "/health"), "liveness probes call by address")
    }

    /// Each limit is answered with its status and a sentence that names its option, before any work.
    func testLimitsAreAnsweredBeforeAnyWork() async throws {
        let served = try serve(encoder: WordEncoder()) {
            $0.limits.maxBodyBytes = 4_096
            $0.limits.maxItemsPerRequest = 5
            $0.limits.maxTexts = 3
            $0.limits.maxTextBytes = 20
            $0.limits.maxK = 50
            $0.limits.maxQueryTokens = 8
            $0.limits.maxTokensTimesK = 60
            $0.limits.maxNcells = 4
            $0.limits.maxNdocs = 100
        }
        let one = [ServedIndex.vectors(1, seed: 2)]
        let long = String(repeating: "x", count: 21)
        let large = Data(("{\"query_embeddings\": [[[" + String(repeating: "0.1,", count: 1_200) + "0.1]]]}").utf8)
        let cases: [(String, Any, HTTPResponse.Status, String)] = [
            ("/search", ["query_embeddings": one, "k": 51], .badRequest, "k must be between 1 and 50 (--max-k), not 51"),
            ("/search", ["query_embeddings": one, "ncells": 5], .badRequest, "ncells must be between 1 and 4 (--max-ncells), not 5"),
            ("/search", ["query_embeddings": one, "ndocs": 0], .badRequest, "ndocs must be between 1 and 100 (--max-ndocs), not 0"),
            ("/search", ["query_embeddings": [ServedIndex.vectors(9, seed: 2)]], .badRequest,
             "query_embeddings[0] has 9 vectors; the limit is 8 per query (--max-query-tokens)"),
            ("/search", ["query_embeddings": [ServedIndex.vectors(7, seed: 2)], "k": 10], .badRequest,
             "query_embeddings[0] has 7 vectors at k = 10, 70 vectors × k; the limit is 60 (--max-tokens-times-k): send fewer vectors or a smaller k"),
            // Text queries have the model's query length (6 vectors).
            ("/search", ["queries": ["a"], "k": 11], .badRequest,
             "queries has 6 vectors at k = 11, 66 vectors × k; the limit is 60 (--max-tokens-times-k): send fewer vectors or a smaller k"),
            ("/search", ["queries": ["a", "b", "c", "d"]], .contentTooLarge, "queries holds 4 texts; the limit is 3 per request (--max-texts): send them in several requests"),
            ("/search", ["queries": ["a", long]], .contentTooLarge, "queries[1] has 21 bytes; the limit is 20 per text (--max-text-bytes): split it"),
            ("/documents", ["documents": [["id": "a", "embeddings": one[0]], ["id": "b", "text": long]]], .contentTooLarge,
             "documents[1].text has 21 bytes; the limit is 20 per text (--max-text-bytes): split it"),
            ("/rerank", ["query": long, "documents": [["id": "a", "text": "b"]]], .contentTooLarge,
             "query has 21 bytes; the limit is 20 per text (--max-text-bytes): split it"),
            ("/rerank", ["query": "q", "k": 51, "documents": [["id": "a", "text": "b"]]], .badRequest, "k must be between 1 and 50 (--max-k), not 51"),
            ("/encode", ["texts": ["a", "b", "c", "d"], "mode": "query"], .contentTooLarge,
             "texts holds 4 texts; the limit is 3 per request (--max-texts): send them in several requests"),
            ("/encode", ["texts": (0..<6).map { "t\($0)" }, "mode": "query"], .contentTooLarge, "texts holds 6 items; the limit is 5 per request (--max-items)"),
            ("/search", large, .contentTooLarge, "the request body has \(large.count) bytes; the limit is 4096 (--max-body-mib)"),
        ]
        try await served.application.test(.router) { client in
            for (route, body, status, sentence) in cases {
                let answer = try await client.send(.post, route, body)
                XCTAssertEqual(answer.status, status, "\(route)")
                XCTAssertEqual(answer.error, sentence, "\(route)")
            }
            let ids = try await client.send(.delete, "/documents", ["ids": (0..<6).map { "d\($0)" }])
            XCTAssertEqual(ids.status, .contentTooLarge)
            XCTAssertEqual(ids.error, "ids holds 6 items; the limit is 5 per request (--max-items)")
            let plain = try await client.send(.post, "/search", ["query_embeddings": one], contentType: "text/plain")
            XCTAssertEqual(plain.status, .unsupportedMediaType)
            XCTAssertEqual(plain.error, "the body must be JSON sent with the header Content-Type: application/json, not text/plain")
            let untyped = try await client.send(.post, "/search", ["query_embeddings": one], contentType: nil)
            XCTAssertEqual(untyped.status, .unsupportedMediaType)
            XCTAssertEqual(untyped.error, "the body must be JSON sent with the header Content-Type: application/json, and the request has no Content-Type")
            let empty = try await client.send(.post, "/search")
            XCTAssertEqual(empty.status, .badRequest)
            XCTAssertEqual(empty.error, "the request has no body; send a JSON object")
        }
    }

    /// A read-only server searches and refuses every write with a 403, before reading its body.
    func testReadOnlyRefusesWrites() async throws {
        let served = try serve { $0.readOnly = true }
        try await served.application.test(.router) { client in
            let expected = "the server is read-only (--read-only) and takes no writes; send them to a server started without --read-only"
            let add = try await client.send(.post, "/documents", Data("not even JSON".utf8))
            XCTAssertEqual(add.status, .forbidden)
            XCTAssertEqual(add.error, expected)
            let delete = try await client.send(.delete, "/documents", ["ids": ["d1"]])
            XCTAssertEqual(delete.status, .forbidden)
            XCTAssertEqual(delete.error, expected)
            let search = try await client.send(.post, "/search", ["query_embeddings": [ServedIndex.rows(served.documents[5])], "k": 1])
            XCTAssertEqual(search.hits().first?["id"] as? String, "d5")
        }
    }
}
