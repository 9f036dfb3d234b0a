import XCTest
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `plaid serve` against hostile clients and browsers: each test sends the probe that broke it.
final class ServerSecurityTests: PlaidCLITestCase {
    /// An empty index of dimension 8 made by a first server, which is stopped.
    private func emptyIndex() throws -> String {
        let index = path("index")
        let server = try ServerProcess(self, arguments: ["--index", index, "--create", "--dim", "8"])
        XCTAssertEqual(server.stop(), 0, server.stderr)
        return index
    }

    /// Runs `plaid serve` that is expected to exit by itself; killed after `timeout`.
    private func serveToExit(_ arguments: [String], timeout: TimeInterval = 60) throws -> PlaidProcess.Output {
        let (process, out, err) = try launch(["serve", "--port", "0"] + arguments)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return .init(status: process.terminationStatus, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                     stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    private func assertOneSentence(_ output: PlaidProcess.Output, says: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(output.status, 1, output.stderr, file: file, line: line)
        let lines = output.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, output.stderr, file: file, line: line)
        XCTAssertTrue(output.stderr.contains(says), output.stderr, file: file, line: line)
    }

    private func json(_ object: Any) -> Data { try! JSONSerialization.data(withJSONObject: object) }

    private let document: [String: Any] = ["documents": [["id": "d0", "embeddings": [[1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]]]]]

    // MARK: A. A server that cannot open its index exits 1 with one sentence

    func testASecondServerOnALockedIndexExitsWithOneSentence() throws {
        let index = try emptyIndex()
        let first = try ServerProcess(self, arguments: ["--index", index])
        assertOneSentence(try serveToExit(["--index", index]), says: "locked by")
        XCTAssertEqual(first.stop(), 0, first.stderr)
        // An empty manifest: the index cannot be opened.
        let manifest = index + "/manifest.plaid"
        XCTAssertTrue(FileManager.default.fileExists(atPath: manifest))
        try Data().write(to: URL(fileURLWithPath: manifest))
        assertOneSentence(try serveToExit(["--index", index]), says: "manifest")
    }

    // MARK: B. Who may write

    /// The CSRF and DNS-rebinding probes: a text/plain body, a foreign Origin, a foreign Host.
    func testBrowserRequestsFromOtherSitesAreRefused() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--allowed-host", "plaid.internal"])
        let body = json(document)
        let own = "Host: 127.0.0.1:\(server.port)"
        func post(_ headers: [String]) throws -> ServerProcess.RawAnswer {
            try server.raw(["POST /documents HTTP/1.1"] + headers + ["Content-Length: \(body.count)"], body: body)
        }
        // The probe as reported: every header hostile.
        let probe = try post(["Content-Type: text/plain", "Origin: http://evil.example", "Host: evil.example"])
        XCTAssertTrue([403, 415, 421].contains(probe.status), probe.head + probe.body)
        // Each defence alone.
        let plain = try post([own, "Content-Type: text/plain"])
        XCTAssertEqual(plain.status, 415, plain.body)
        XCTAssertTrue(plain.body.contains("application/json"), plain.body)
        let noType = try post([own])
        XCTAssertEqual(noType.status, 415, noType.body)
        let rebound = try post(["Host: evil.example:\(server.port)", "Content-Type: application/json"])
        XCTAssertEqual(rebound.status, 421, rebound.body)
        XCTAssertTrue(rebound.body.contains("evil.example") && rebound.body.contains("--allowed-host"), rebound.body)
        let crossOrigin = try post([own, "Content-Type: application/json", "Origin: http://evil.example"])
        XCTAssertEqual(crossOrigin.status, 403, crossOrigin.body)
        XCTAssertTrue(crossOrigin.body.contains("Origin"), crossOrigin.body)
        XCTAssertEqual(try post(["Host: evil.example", "Content-Type: application/json"]).status, 421)
        // The server speaks http: an https page of the same name is another origin.
        XCTAssertEqual(try post([own, "Content-Type: application/json", "Origin: https://127.0.0.1:\(server.port)"]).status, 403)
        // A second Host, or an absolute-form target naming another host, cannot slip past the name check.
        let twoHosts = try post([own, "Host: evil.example", "Content-Type: application/json"])
        XCTAssertEqual(twoHosts.status, 400, twoHosts.head + twoHosts.body)
        XCTAssertTrue(twoHosts.body.contains("Host headers"), twoHosts.body)
        let absolute = try server.raw(["DELETE http://evil.example/documents HTTP/1.1", own, "Content-Type: application/json", "Content-Length: 16"],
                                      body: Data(#"{"ids": ["d0"]}"#.utf8) + Data(" ".utf8))
        XCTAssertEqual(absolute.status, 421, absolute.head + absolute.body)
        XCTAssertEqual(try server.raw(["GET http://127.0.0.1:\(server.port)/info HTTP/1.1", own]).status, 200)
        // Nothing was written.
        XCTAssertEqual(try server.request("GET", "/info").json["documents"] as? Int, 0)
        // What the server answers to: its loopback names with its port, an allowed host, its own origin.
        for host in ["localhost:\(server.port)", "127.0.0.1:\(server.port)", "[::1]:\(server.port)", "plaid.internal", "plaid.internal:443"] {
            XCTAssertEqual(try server.raw(["GET /info HTTP/1.1", "Host: \(host)"]).status, 200, host)
        }
        XCTAssertEqual(try server.raw(["GET /info HTTP/1.1", "Host: localhost:1"]).status, 421)
        // Liveness probes (a load balancer calls by address) need no name: /health answers any Host.
        XCTAssertEqual(try server.raw(["GET /health HTTP/1.1", "Host: 10.1.2.3:\(server.port)"]).status, 200)
        let sameOrigin = try post([own, "Content-Type: application/json; charset=utf-8", "Origin: http://127.0.0.1:\(server.port)"])
        XCTAssertEqual(sameOrigin.status, 201, sameOrigin.body)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// `--api-key-file`: a bearer token on every route but /health; a non-loopback --host needs one.
    func testAnAPIKeyIsRequiredWhenGivenAndForNonLoopbackHosts() throws {
        let index = try emptyIndex()
        let keyFile = path("key")
        try "s3cret-token-of-some-length\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let server = try ServerProcess(self, arguments: ["--index", index, "--api-key-file", keyFile])
        let own = "Host: 127.0.0.1:\(server.port)"
        XCTAssertEqual(try server.raw(["GET /health HTTP/1.1", own]).status, 200)
        for authorization in [nil, "Bearer wrong", "Bearer s3cret-token-of-some-lengtH", "Basic czNjcmV0", "Bearer s3cret-token-of-some-length-and-more"] {
            let answer = try server.raw(["GET /info HTTP/1.1", own] + (authorization.map { ["Authorization: \($0)"] } ?? []))
            XCTAssertEqual(answer.status, 401, "\(authorization ?? "none"): \(answer.body)")
            XCTAssertEqual(answer.header("WWW-Authenticate"), "Bearer", answer.head)
            XCTAssertTrue(answer.body.contains("--api-key-file"), answer.body)
        }
        // The scheme's name is case-insensitive (RFC 9110 §11.1).
        for scheme in ["Bearer", "bearer", "BEARER"] {
            XCTAssertEqual(try server.raw(["GET /info HTTP/1.1", own, "Authorization: \(scheme) s3cret-token-of-some-length"]).status, 200, scheme)
        }
        XCTAssertEqual(server.stop(), 0, server.stderr)
        // 192.0.2.1 (TEST-NET-1) is never bound: the server refuses before binding.
        assertOneSentence(try serveToExit(["--index", index, "--host", "192.0.2.1"]), says: "--api-key-file")
        assertOneSentence(try serveToExit(["--index", index, "--api-key-file", path("nothing")]), says: "--api-key-file")
    }

    /// `--read-only` takes no writer lock: it serves beside a writer and refuses writes.
    func testReadOnlyServesBesideAWriterAndRefusesWrites() throws {
        let index = try emptyIndex()
        let writer = try ServerProcess(self, arguments: ["--index", index])
        let reader = try ServerProcess(self, arguments: ["--index", index, "--read-only"])
        let refused = try reader.request("POST", "/documents", document)
        XCTAssertEqual(refused.status, 403, refused.error ?? "")
        XCTAssertTrue(refused.error?.contains("--read-only") == true, refused.error ?? "")
        XCTAssertEqual(try reader.request("DELETE", "/documents", ["ids": ["d0"]]).status, 403)
        let search = try reader.request("POST", "/search", ["query_embeddings": [[[1, 0, 0, 0, 0, 0, 0, 0]]]])
        XCTAssertEqual(search.status, 200, search.error ?? "")
        // The writer's commits reach the reader's next search.
        XCTAssertEqual(try writer.request("POST", "/documents", document).status, 201)
        XCTAssertEqual(try reader.request("GET", "/info").json["documents"] as? Int, 1)
        let found = try reader.request("POST", "/search", ["query_embeddings": [[[1, 0, 0, 0, 0, 0, 0, 0]]], "k": 1])
        XCTAssertEqual(((found.json["results"] as? [[[String: Any]]])?.first?.first?["id"]) as? String, "d0", found.error ?? "")
        XCTAssertEqual(reader.stop(), 0, reader.stderr)
        XCTAssertEqual(writer.stop(), 0, writer.stderr)
    }

    /// A read-only bind mount (where the system lets this test make one): the writer refuses
    /// with one sentence, `--read-only` serves it.
    func testReadOnlyServesAnIndexOnAReadOnlyFileSystem() throws {
        let index = try emptyIndex()
        let mountPoint = path("mounted")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        func run(_ arguments: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/mount")
            process.arguments = arguments
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        guard (try? run(["--bind", directory, mountPoint])) == 0 else { throw XCTSkip("this system does not let the test bind-mount") }
        defer {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
            unmount.arguments = [mountPoint]
            try? unmount.run()
            unmount.waitUntilExit()
        }
        guard try run(["-o", "remount,bind,ro", mountPoint]) == 0 else { throw XCTSkip("this system does not let the test remount read-only") }
        let readOnlyIndex = mountPoint + "/" + (index as NSString).lastPathComponent
        assertOneSentence(try serveToExit(["--index", readOnlyIndex]), says: "Read-only file system")
        let server = try ServerProcess(self, arguments: ["--index", readOnlyIndex, "--read-only"])
        XCTAssertEqual(try server.request("POST", "/search", ["query_embeddings": [[[1, 0, 0, 0, 0, 0, 0, 0]]]]).status, 200)
        XCTAssertEqual(try server.request("POST", "/documents", document).status, 403)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    // MARK: C. Bounds

    /// Two bodies of 80,000 keys each (quadratic duplicate checks took 16 s each) leave /health answering.
    func testHealthAnswersWhileLargeBodiesParse() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index])
        let keys = "{" + (0..<80_000).map { "\"k\($0)\":0" }.joined(separator: ",") + "}"
        let body = Data(keys.utf8)
        var sockets: [Int32] = []
        for _ in 0..<2 {
            let fd = try server.connect()
            ServerProcess.send(fd, Data("POST /search HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            sockets.append(fd)
        }
        defer { sockets.forEach { close($0) } }
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        XCTAssertEqual(try server.request("GET", "/health", timeout: 10).status, 200)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "/health waited for the bodies")
        for fd in sockets {
            let answer = String(decoding: ServerProcess.receive(fd, timeout: 10).data, as: UTF8.self)
            // A refusal: the unknown fields (400), or the members' memory past 6 times the body (413).
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 400") || answer.hasPrefix("HTTP/1.1 413"), answer)
        }
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// A 60 MiB body of `[[0],[0],…]` once peaked at 2 GB and left 833 MB resident.
    func testTinyArraysDoNotAmplifyMemory() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index])
        // The probe as reported (rows of one number), then rows of varying lengths: 60 MB each.
        func body(_ rows: [String], count: Int) -> Data {
            var body = Data(capacity: count * 6 + 64)
            body.append(contentsOf: Array("{\"query_embeddings\": [[".utf8))
            let encoded = rows.map { Array(($0 + ",").utf8) }
            for i in 0..<count { body.append(contentsOf: encoded[i % encoded.count]) }
            body.append(contentsOf: Array("[0]]]}".utf8))
            return body
        }
        let before = server.memory.resident
        for probe in [body(["[0]"], count: 15_000_000), body(["[0]", "[0,0]"], count: 12_000_000)] {
            let answer = try server.request("POST", "/search", probe)
            XCTAssertTrue([400, 413].contains(answer.status), "\(answer.status): \(answer.error ?? "")")
        }
        XCTAssertLessThan(server.memory.peak, 1 << 30, "peak resident memory")
        // Freed memory goes back to the system shortly after the answer.
        let answered = Date()
        while server.memory.resident - before >= 200 << 20, Date().timeIntervalSince(answered) < 5 { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertLessThan(server.memory.resident - before, 200 << 20, "memory kept after the request")
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// Found by a probe: a 60 MiB body of one string and then numbers (`{"ids": ["a", 0, 0, …]}`)
    /// was charged for its values only when its array closed, and peaked at 877 MB before its
    /// 413; and an object of millions of members the same way. What a body's values take is
    /// charged as they are read, within the documented 6 times the body's size.
    func testUnpackedValuesAreChargedAsTheyAreRead() throws {
        let index = try emptyIndex()
        func body(_ opening: String, _ element: (Int) -> String, count: Int, closing: String) -> Data {
            var body = Data(capacity: count * 12 + 64)
            body.append(contentsOf: Array(opening.utf8))
            for i in 0..<count { body.append(contentsOf: Array(element(i).utf8)) }
            body.append(contentsOf: Array(closing.utf8))
            return body
        }
        let numbers = body("{\"ids\": [\"a\"", { _ in ",0" }, count: 30 << 20, closing: "]}")
        let members = body("{\"x\": 1", { ",\"k\($0)\":0" }, count: 5_000_000, closing: "}")
        for (path, probe) in [("/rerank", numbers), ("/search", members)] {
            let server = try ServerProcess(self, arguments: ["--index", index])  // a peak of its own
            let before = server.memory.resident
            let answer = try server.request("POST", path, probe)
            XCTAssertTrue([400, 413].contains(answer.status), "\(answer.status): \(answer.error ?? "")")
            // The body itself, and 6 times its size for its values, with room for the rest.
            XCTAssertLessThan(server.memory.peak - before, 7 * probe.count + (64 << 20), "peak resident memory after \(path)")
            XCTAssertEqual(try server.request("GET", "/health").status, 200)
            XCTAssertEqual(server.stop(), 0, server.stderr)
        }
    }

    /// Texts per request and bytes per text are bounded before any encoding; so are k and
    /// query tokens × k; and a request past --request-timeout is answered 503.
    func testWorkPerRequestIsBounded() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--max-texts", "3", "--max-text-bytes", "100", "--max-results", "50"])
        let long = String(repeating: "x", count: 101)
        let cases: [(String, Any, Int, String)] = [
            ("/encode", ["texts": ["a", "b", "c", "d"], "mode": "query"], 413, "--max-texts"),
            ("/encode", ["texts": ["a", long], "mode": "document"], 413, "--max-text-bytes"),
            ("/search", ["queries": ["a", "b", "c", "d"]], 413, "--max-texts"),
            ("/search", ["queries": [long]], 413, "--max-text-bytes"),
            ("/documents", ["documents": [["id": "a", "text": long]]], 413, "--max-text-bytes"),
            ("/rerank", ["query": long, "documents": [["id": "a", "text": "b"]]], 413, "--max-text-bytes"),
            ("/search", ["query_embeddings": [[[Int]]](repeating: [[Int]](repeating: [1, 0, 0, 0, 0, 0, 0, 0], count: 512), count: 1), "k": 1_000], 400, "--max-tokens-times-k"),
            ("/search", ["query_embeddings": [[[1, 0, 0, 0, 0, 0, 0, 0]]], "k": 10_000], 400, "--max-k"),
            ("/search", ["query_embeddings": [[[1, 0, 0, 0, 0, 0, 0, 0]]], "ndocs": 100_000_000], 400, "ndocs"),
            // Found by a probe: 1e300 became infinity and was taken.
            ("/search", ["query_embeddings": [[[1, 0, 0, 0, 0, 0, 0, 0]]], "centroid_score_threshold": 1e300], 400, "centroid_score_threshold"),
            // Found by a probe: 128 queries at k = 1,000 with matches made a 170 MB answer and a
            // 1 GB peak; answers are bounded by the entries they carry.
            ("/search", ["query_embeddings": [[[Int]]](repeating: [[1, 0, 0, 0, 0, 0, 0, 0]], count: 6), "k": 10], 413, "--max-results"),
            ("/search", ["query_embeddings": [[[Int]]](repeating: [[1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]], count: 4), "k": 5,
                         "matches": true], 413, "--max-results"),
            ("/search", ["query_embeddings": [[[Int]]](repeating: [[1, 0, 0, 0, 0, 0, 0, 0]], count: 5), "k": 10], 200, ""),
            ("/search", ["query_embeddings": [[[Int]]](repeating: [[1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]], count: 3), "k": 5,
                         "matches": true], 200, ""),
        ]
        for (route, body, status, says) in cases {
            let answer = try server.request("POST", route, body)
            XCTAssertEqual(answer.status, status, "\(route) \(body): \(answer.error ?? "")")
            if status != 200 { XCTAssertTrue(answer.error?.contains(says) == true, answer.error ?? "") }
        }
        XCTAssertEqual(server.stop(), 0, server.stderr)

        let slow = try ServerProcess(self, arguments: ["--index", index, "--request-timeout", "0.001"])
        let queries = (0..<200).map { q in (0..<32).map { t in (0..<8).map { Float(($0 + q + t) % 5) } } }
        let late = try slow.request("POST", "/search", ["query_embeddings": queries, "k": 100])
        // 1 ms may run out while the body arrives (408) or during the work (503); both name the option.
        XCTAssertTrue([408, 503].contains(late.status), "\(late.status) \(late.error ?? "")")
        XCTAssertTrue(late.error?.contains("--request-timeout") == true, late.error ?? "")
        XCTAssertEqual(slow.stop(), 0, slow.stderr)
    }

    /// Connections beyond --max-connections wait until one closes: idle connections cannot
    /// exhaust the server's descriptors.
    func testConnectionsAreBounded() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--max-connections", "2"])
        let held = try (0..<2).map { _ in try server.connect() }
        Thread.sleep(forTimeInterval: 0.3)
        let waiting = try server.raw(["GET /health HTTP/1.1", "Host: 127.0.0.1"], timeout: 1.5)
        XCTAssertEqual(waiting.status, 0, "a third connection was served: \(waiting.head)")
        held.forEach { close($0) }
        XCTAssertEqual(try server.raw(["GET /health HTTP/1.1", "Host: 127.0.0.1"], timeout: 10).status, 200)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// Clients that each send half a request head, as many as --max-connections, are dropped
    /// after --header-timeout: /health answers again long before --idle-timeout.
    func testHalfSentHeadsDoNotHoldEveryConnection() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--max-connections", "4", "--header-timeout", "1"])
        let held = try (0..<4).map { _ in try server.connect() }
        defer { held.forEach { close($0) } }
        for fd in held { ServerProcess.send(fd, Data("POST /search HTTP/1.1\r\nHost: 127".utf8)) }
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        let health = try server.raw(["GET /health HTTP/1.1", "Host: 127.0.0.1"], timeout: 20)
        XCTAssertEqual(health.status, 200, health.head)
        XCTAssertLessThan(Date().timeIntervalSince(started), 8, "/health waited for the half-sent heads past --header-timeout")
        XCTAssertTrue(held.allSatisfy { ServerProcess.receive($0, timeout: 2).closed })
        // A keep-alive connection serves several requests; silence between them past the header timeout closes it.
        let fd = try server.connect()
        defer { close(fd) }
        for _ in 0..<2 {
            ServerProcess.send(fd, Data("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let answer = ServerProcess.receive(fd, timeout: 0.5)
            XCTAssertTrue(String(decoding: answer.data, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            XCTAssertFalse(answer.closed)
        }
        XCTAssertTrue(ServerProcess.receive(fd, timeout: 5).closed)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// What NIO's parser refuses, and codings plaid does not decode, get a JSON sentence and a status.
    func testMalformedHeadsGetAJSONSentence() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index])
        let own = "Host: 127.0.0.1:\(server.port)"
        func send(_ bytes: String) throws -> ServerProcess.RawAnswer {
            let fd = try server.connect()
            defer { close(fd) }
            ServerProcess.send(fd, Data(bytes.utf8))
            let text = String(decoding: ServerProcess.receive(fd, timeout: 10).data, as: UTF8.self)
            let parts = text.components(separatedBy: "\r\n\r\n")
            let status = parts.first.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
            return .init(status: status, head: parts.first ?? "", body: parts.dropFirst().joined(), closed: true)
        }
        let cases: [(String, Int, String)] = [
            ("POST /search HTTP/1.1\r\n\(own)\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}", 400, "Content-Length"),
            ("POST /search HTTP/1.1\r\n\(own)\r\nContent-Type: application/json\r\nContent-Length: 5x\r\n\r\n{}", 400, "Content-Length"),
            ("BREW /info HTTP/1.1\r\n\(own)\r\n\r\n", 501, "method"),
            ("GET /info HTTP/1.1\r\n\(own)\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n", 431, "headers"),
            ("POST /search HTTP/1.1\r\n\(own)\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 501, "Transfer-Encoding"),
        ]
        for (request, status, says) in cases {
            let answer = try send(request)
            XCTAssertEqual(answer.status, status, "\(request.prefix(80)): \(answer.head)")
            let error = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: String]
            XCTAssertTrue(error?["error"]?.contains(says) == true, "\(request.prefix(80)): \(answer.body)")
        }
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// Found by a probe: a head refused after a pipelined write was answered at once and the
    /// connection closed, so the write's client saw only the refusal although the write had been
    /// committed. Each request gets its answer, in order, the refusal last.
    func testARefusedHeadIsAnsweredAfterTheRequestsBeforeIt() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index])
        let host = "Host: 127.0.0.1:\(server.port)"
        let cases: [(second: String, id: String, status: Int)] = [
            ("GET /info HTTP/1.1\r\n\(host)\r\n\(host)\r\n\r\n", "pipe-1", 400),
            ("FOO / HTTP/1.1\r\n\r\n", "pipe-2", 501),
            // A second request whose chunked body breaks off (found by a review of the fix).
            ("POST /documents HTTP/1.1\r\n\(host)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"doc\r\nZZZ\r\n", "pipe-3", 400),
        ]
        for (number, (second, id, status)) in cases.enumerated() {
            let add = json(["documents": [["id": id, "embeddings": [[1, 0, 0, 0, 0, 0, 0, 0]]]]])
            let fd = try server.connect()
            defer { close(fd) }
            let head = "POST /documents HTTP/1.1\r\n\(host)\r\nContent-Type: application/json\r\nContent-Length: \(add.count)\r\n\r\n"
            ServerProcess.send(fd, Data(head.utf8) + add + Data(second.utf8))
            let (data, closed) = ServerProcess.receive(fd, timeout: 30)
            let text = String(decoding: data, as: UTF8.self)
            let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
            XCTAssertEqual(statuses, [201, status], text)
            XCTAssertTrue(closed, "the connection is closed after the refusal")
            XCTAssertEqual(try server.request("GET", "/info").json["documents"] as? Int, number + 1, "\(id) was committed")
        }
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// A client that announces 1000 bytes and sends 7 is dropped after --idle-timeout, and
    /// SIGTERM does not wait for it past --shutdown-timeout.
    func testStalledClientsAreDroppedAndDoNotBlockShutdown() throws {
        let index = try emptyIndex()
        let stalled = "POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"k\": 1"
        let server = try ServerProcess(self, arguments: ["--index", index, "--idle-timeout", "1"])
        let fd = try server.connect()
        ServerProcess.send(fd, Data(stalled.utf8))
        let dropped = ServerProcess.receive(fd, timeout: 6)
        close(fd)
        XCTAssertTrue(dropped.closed, "the stalled connection is still open")
        XCTAssertEqual(server.stop(), 0, server.stderr)

        let patient = try ServerProcess(self, arguments: ["--index", index, "--idle-timeout", "600", "--shutdown-timeout", "1"])
        let held = try patient.connect()
        defer { close(held) }
        ServerProcess.send(held, Data(stalled.replacingOccurrences(of: "127.0.0.1", with: "127.0.0.1:\(patient.port)").utf8))
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        kill(patient.process.processIdentifier, SIGTERM)
        while patient.process.isRunning, Date().timeIntervalSince(started) < 15 { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertFalse(patient.process.isRunning, "SIGTERM waited for a stalled client")
        XCTAssertLessThan(Date().timeIntervalSince(started), 8)
    }

    /// A body that trickles in (a byte every half second keeps --idle-timeout from firing) is
    /// cut off at --request-timeout with a 408.
    func testATricklingBodyIsCutOffAtTheRequestTimeout() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--request-timeout", "2"])
        let fd = try server.connect()
        defer { close(fd) }
        ServerProcess.send(fd, Data("POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n".utf8))
        let started = Date()
        var answer = Data()
        while answer.isEmpty, Date().timeIntervalSince(started) < 8 {
            ServerProcess.send(fd, Data(" ".utf8))
            answer = ServerProcess.receive(fd, timeout: 0.5).data
        }
        let text = String(decoding: answer, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 408"), "after \(Date().timeIntervalSince(started)) s: \(text)")
        XCTAssertTrue(text.contains("--request-timeout"), text)
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    // MARK: D. Clear errors

    func testChunkedBodiesOverTheLimitOrMalformedGetClearErrors() throws {
        let index = try emptyIndex()
        let server = try ServerProcess(self, arguments: ["--index", index, "--max-body-mib", "1"])
        let head = ["POST /search HTTP/1.1", "Host: 127.0.0.1:\(server.port)", "Content-Type: application/json", "Transfer-Encoding: chunked"]
        let chunk = Data(repeating: UInt8(ascii: " "), count: 256 << 10)
        var big = Data()
        for _ in 0..<6 { big += Data(String(chunk.count, radix: 16).utf8) + Data("\r\n".utf8) + chunk + Data("\r\n".utf8) }
        big += Data("0\r\n\r\n".utf8)
        let tooLarge = try server.raw(head, body: big)
        XCTAssertEqual(tooLarge.status, 413, tooLarge.head + tooLarge.body)
        XCTAssertTrue(tooLarge.body.contains("--max-body-mib"), tooLarge.body)
        let malformed = try server.raw(head, body: Data("zz\r\n{}\r\n0\r\n\r\n".utf8))
        XCTAssertEqual(malformed.status, 400, malformed.head + malformed.body)
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }
}
