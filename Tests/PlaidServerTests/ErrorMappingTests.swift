import XCTest
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import PlaidServer
import PlaidCore
import PlaidIndex

/// `APIError.from`, the one place where errors become answers: each service error's status and
/// sentence, the library's errors phrased for HTTP, and the server's paths kept from clients.
final class ErrorMappingTests: ServerTestCase {
    func testEachServiceErrorHasItsStatusAndSentence() {
        let injected = PlaidError.io(path: "/srv/index/manifest.plaid", detail: "injected failure")
        let cases: [(ServiceError, Int, String)] = [
            (.limitExceeded(.items, value: 6, maximum: 5, in: .ids), 413, "ids holds 6 items; the limit is 5 per request (--max-items)"),
            (.limitExceeded(.texts, value: 4, maximum: 3, in: .queryTexts), 413,
             "queries holds 4 texts; the limit is 3 per request (--max-texts): send them in several requests"),
            (.limitExceeded(.textBytes, value: 101, maximum: 100, in: .documentText(2)), 413,
             "documents[2].text has 101 bytes; the limit is 100 per text (--max-text-bytes): split it"),
            (.limitExceeded(.queryVectors, value: 513, maximum: 512, in: .queryVectors(1)), 400,
             "query_embeddings[1] has 513 vectors; the limit is 512 per query (--max-query-tokens)"),
            (.limitExceeded(.vectorsTimesK(vectors: 32, k: 5_000), value: 160_000, maximum: 131_072, in: .queryTexts), 400,
             "queries has 32 vectors at k = 5000, 160000 vectors × k; the limit is 131072 (--max-tokens-times-k): send fewer vectors or a smaller k"),
            (.outOfRange(.k, value: 0, maximum: 1_000), 400, "k must be between 1 and 1000 (--max-k), not 0"),
            (.outOfRange(.ncells, value: 65, maximum: 64), 400, "ncells must be between 1 and 64 (--max-ncells), not 65"),
            (.outOfRange(.ndocs, value: 70_000, maximum: 65_536), 400, "ndocs must be between 1 and 65536 (--max-ndocs), not 70000"),
            (.empty(.texts), 400, "texts is empty; send at least one"),
            (.missing(.searchQueries), 400, #"a search request needs "queries" (texts) or "query_embeddings""#),
            (.missing(.rerankQuery), 400, #"a rerank request needs "query" (text) or "query_embeddings""#),
            (.missing(.document(3)), 400, #"documents[3] needs "text" or "embeddings""#),
            (.contradicting(.searchQueries), 400, #"send "queries" or "query_embeddings", not both"#),
            (.contradicting(.rerankQuery), 400, #"send "query" or "query_embeddings", not both"#),
            (.contradicting(.document(0)), 400, #"documents[0] has both "text" and "embeddings"; send one"#),
            (.metadataInRerank(document: 1), 400, "documents[1] of a rerank request takes no metadata"),
            (.filterParametersWithoutFilter, 400, "filter_params goes with filter"),
            (.invalidVectors(.rerankQueryVectors, .none), 400, "query_embeddings holds no vectors"),
            (.invalidVectors(.queryVectors(0), .dimension(found: 8, expected: 16)), 400, "query_embeddings[0][0] has 8 numbers; the index's vectors have dimension 16"),
            (.invalidVectors(.documentVectors(4), .notFinite(row: 1, column: 2)), 400, "documents[4].embeddings[1][2] is not a finite number"),
            (.invalidVectors(.documentVectors(0), .norm(row: 0, norm: 1e18, maximum: 10_000)), 400,
             "documents[0].embeddings[0] has norm 1e+18; vectors may have norm at most 10000 (ColBERT's are normalised to 1)"),
            (.noModel(.rerankQueryText), 400, "query holds text but the server has no model; send embeddings, or start the server with --model"),
            (.readOnly, 403, "the server is read-only (--read-only) and takes no writes; send them to a server started without --read-only"),
            (.indexUnavailable(.search, cause: injected), 503,
             "the index's last commit cannot be opened for search (reading or writing the index failed: injected failure; the server's log has the details); the server retries on every request"),
            (.indexUnavailable(.write, cause: PlaidError.locked(path: "/srv/index", holder: "process 12")), 503,
             "the index cannot be opened for writing (the index at the index is locked by process 12: another plaid is writing to it. Wait for it to finish (or stop it) and try again); the server retries on the next write"),
            (.timeout(seconds: 60), 503, "the request ran past the server's limit of 60 s (--request-timeout); send fewer or smaller queries or texts per request"),
            (.timeout(seconds: 0.5), 503, "the request ran past the server's limit of 0.5 s (--request-timeout); send fewer or smaller queries or texts per request"),
        ]
        let folders = ServerFolders(index: "/srv/index")
        for (error, status, sentence) in cases {
            let answer = APIError.from(error, hiding: folders)
            XCTAssertEqual(Int(answer.status.code), status, "\(error)")
            XCTAssertEqual(answer.message, sentence, "\(error)")
        }
        // Every input is named by its JSON field.
        let fields: [(ServiceError.Input, String)] = [
            (.queryTexts, "queries"), (.queryText(2), "queries[2]"), (.queryVectorSets, "query_embeddings"), (.queryVectors(1), "query_embeddings[1]"),
            (.rerankQueryText, "query"), (.rerankQueryVectors, "query_embeddings"), (.documents, "documents"), (.documentText(3), "documents[3].text"),
            (.documentVectors(0), "documents[0].embeddings"), (.ids, "ids"), (.texts, "texts"), (.text(5), "texts[5]"),
        ]
        for (input, field) in fields { XCTAssertEqual(input.field, field) }
    }

    /// Each kind of mistake, sent to the routes, gets its status and sentence, and changes nothing.
    func testRoutesAnswerEachMistakeWithItsSentence() async throws {
        let served = try serve { $0.limits.maxItemsPerRequest = 5 }
        let good = ServedIndex.vectors(2, seed: 3)
        let huge = [[Float(1e18)] + [Float](repeating: 0, count: ServedIndex.dim - 1)]
        let cases: [(String, Any, HTTPResponse.Status, String)] = [
            ("/search", ["k": 3], .badRequest, #"a search request needs "queries" (texts) or "query_embeddings""#),
            ("/search", ["queries": ["a"], "query_embeddings": [good]], .badRequest, #"send "queries" or "query_embeddings", not both"#),
            ("/search", ["queries": ["what is plaid?"]], .badRequest, "queries holds text but the server has no model; send embeddings, or start the server with --model"),
            ("/search", ["query_embeddings": [[[Float]]]()], .badRequest, "query_embeddings is empty; send at least one"),
            ("/search", ["query_embeddings": [good], "filter_params": ["x"]], .badRequest, "filter_params goes with filter"),
            ("/search", ["query_embeddings": [good], "k": 0], .badRequest, "k must be between 1 and 1000 (--max-k), not 0"),
            ("/search", ["query_embeddings": [good, [[Float]]()]], .badRequest, "query_embeddings[1] holds no vectors"),
            ("/search", ["query_embeddings": [[[Float](repeating: 0.1, count: 8)]]], .badRequest,
             "query_embeddings[0][0] has 8 numbers; the index's vectors have dimension 16"),
            // Finite in the body, past Float's range once read.
            ("/search", Data(("{\"query_embeddings\": [[[1e39" + String(repeating: ", 0", count: 15) + "]]]}").utf8), .badRequest,
             "query_embeddings[0][0][0] is not a finite number"),
            ("/search", ["query_embeddings": [huge]], .badRequest,
             "query_embeddings[0][0] has norm 1e+18; vectors may have norm at most 10000 (ColBERT's are normalised to 1)"),
            ("/documents", ["documents": [["id": "x"]]], .badRequest, #"documents[0] needs "text" or "embeddings""#),
            ("/documents", ["documents": [["id": "x", "text": "t", "embeddings": good]]], .badRequest, #"documents[0] has both "text" and "embeddings"; send one"#),
            ("/documents", ["documents": [["id": "x", "embeddings": good], ["id": "y", "text": "t"]]], .badRequest,
             "documents[1].text holds text but the server has no model; send embeddings, or start the server with --model"),
            ("/documents", ["documents": (0..<6).map { ["id": "n\($0)", "embeddings": good] }], .contentTooLarge,
             "documents holds 6 items; the limit is 5 per request (--max-items)"),
            ("/rerank", ["documents": [["id": "a", "embeddings": good]]], .badRequest, #"a rerank request needs "query" (text) or "query_embeddings""#),
            ("/rerank", ["query_embeddings": good, "documents": [["id": "a", "embeddings": good, "metadata": ["k": 1]]]], .badRequest,
             "documents[0] of a rerank request takes no metadata"),
            ("/encode", ["texts": ["hello"], "mode": "query"], .badRequest, "texts holds text but the server has no model; send embeddings, or start the server with --model"),
        ]
        try await served.application.test(.router) { client in
            for (route, body, status, sentence) in cases {
                let answer = try await client.send(.post, route, body)
                XCTAssertEqual(answer.status, status, "\(route) \(body)")
                XCTAssertEqual(answer.error, sentence, "\(route) \(body)")
                XCTAssertTrue(answer.isOneSentence, String(decoding: answer.body, as: UTF8.self))
            }
            let empty = try await client.send(.delete, "/documents", ["ids": [String]()])
            XCTAssertEqual(empty.error, "ids is empty; send at least one")
            let info = try await client.send(.get, "/info")
            XCTAssertEqual(info.json["documents"] as? Int, 60, "a refused request changed the index")
        }
    }

    /// Library errors pass through the service and are phrased for HTTP: the remedy names the
    /// JSON field, and the server's folders are hidden.
    func testLibraryErrorsNameTheAPIsFields() async throws {
        let served = try serve()
        try await served.application.test(.router) { client in
            let again = try await client.send(.post, "/documents", ["documents": [["id": "d1", "embeddings": ServedIndex.vectors(2, seed: 9)]]])
            XCTAssertEqual(again.status, .badRequest)
            XCTAssertEqual(again.error, #"1 id is already in the index ('d1'); send "upsert": true to replace it, or delete it first"#)
            let count = try await client.send(.post, "/search", ["query_embeddings": [ServedIndex.vectors(2, seed: 9)], "filter": "shelf = ? AND name = ?",
                                                                 "filter_params": [1]])
            XCTAssertEqual(count.status, .badRequest)
            XCTAssertEqual(count.error, "the filter has 2 ? placeholders but 1 filter_params value was given")
            let unknown = try await client.send(.post, "/search", ["query_embeddings": [ServedIndex.vectors(2, seed: 9)], "filter": "no_such_field = 1"])
            XCTAssertEqual(unknown.status, .badRequest)
            XCTAssertTrue(unknown.error?.contains("no_such_field") == true, unknown.error ?? "")
            XCTAssertFalse(unknown.error?.contains(served.folder) == true, unknown.error ?? "")
        }
    }

    /// A commit whose snapshot cannot be opened is answered; every request after it is a 503
    /// with the sentence of `indexUnavailable(.search)` until the snapshot opens.
    func testAnUnopenableSnapshotIsA503UntilItOpens() async throws {
        let served = try serve()
        served.service.log = { _ in }
        let working = served.service.openSnapshot
        served.service.openSnapshot = { _, _ in throw PlaidError.io(path: "/nowhere", detail: "injected failure") }
        try await served.application.test(.router) { client in
            let added = try await client.send(.post, "/documents", ["documents": [["id": "new", "embeddings": ServedIndex.vectors(2, seed: 4)]]])
            XCTAssertEqual(added.status, .created, added.error ?? "")
            for route in ["/info", "/search"] {
                let answer = try await client.send(route == "/info" ? .get : .post, route, route == "/info" ? nil : ["query_embeddings": [ServedIndex.vectors(2, seed: 4)]])
                XCTAssertEqual(answer.status, .serviceUnavailable, route)
                XCTAssertEqual(answer.error, "the index's last commit cannot be opened for search (reading or writing the index failed: injected failure; the server's log has the details); the server retries on every request")
            }
            served.service.openSnapshot = working
            let info = try await client.send(.get, "/info")
            XCTAssertEqual(info.json["documents"] as? Int, 61)
        }
    }

    /// Library errors reach clients without the server's paths; a full disk is a 507.
    func testErrorsCarryNoServerPathAndAFullDiskIs507() {
        let cases: [(Error, Int)] = [
            (PlaidError.io(path: "/srv/secret/index/segments/000003/codes.plaid", detail: "cannot write: \(String(cString: strerror(ENOSPC)))"), 507),
            (NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC), userInfo: [NSFilePathErrorKey: "/srv/secret/index/manifest.plaid"]), 507),
            (PlaidError.io(path: "/srv/secret/index/manifest.plaid", detail: "cannot open: \(String(cString: strerror(EACCES)))"), 500),
            (PlaidError.corruptIndex(file: "/srv/secret/index/segments/000001/codes.plaid", detail: "checksum mismatch in /srv/secret/index/segments/000001"), 500),
        ]
        for (error, status) in cases {
            let answer = APIError.from(error)
            XCTAssertEqual(Int(answer.status.code), status, answer.message)
            XCTAssertFalse(answer.message.contains("/srv"), answer.message)
            XCTAssertFalse(answer.message.isEmpty)
            if status == 507 { XCTAssertTrue(answer.message.contains("no space left on device"), answer.message) }
        }
        // An input error keeps the client's own text, paths included, and loses the server's folders.
        let folders = ServerFolders(index: "/srv/secret/index", model: "/opt/models/colbert")
        let filter = APIError.from(PlaidError.invalidArgument("the filter is not a valid SQL expression: no such function: readfile (at character 1 of \"readfile('/etc/passwd') = x\")"), hiding: folders)
        XCTAssertEqual(filter.status.code, 400)
        XCTAssertTrue(filter.message.contains("readfile('/etc/passwd')"), filter.message)
        let refused = APIError.from(PlaidError.refused("the index at /srv/secret/index was built with the model /opt/models/colbert/v2, not /data/me"), hiding: folders)
        XCTAssertEqual(refused.message, "the index at the index was built with the model the model, not /data/me")
        XCTAssertFalse(APIError.from(PlaidError.missingFile(path: "/srv/secret/index/manifest.plaid", hint: "Build one"), hiding: folders).message.contains("/srv"))
    }
}
