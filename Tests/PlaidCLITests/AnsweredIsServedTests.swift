import XCTest
import Foundation
import PlaidCore
import PlaidIndex
@testable import PlaidServer

/// What the server answered is what it serves: after any failure `/info` equals the manifest on
/// disk, and a write's answer says whether its commit landed (issue 19, §1).
final class AnsweredIsServedTests: PlaidCLITestCase {
    private let dim = 8

    private func vectors(_ tokens: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededRandom(seed: seed)
        return (0..<tokens).map { _ in
            let v = (0..<dim).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 + 0.001 }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
    }

    private func documents(_ count: Int, batch: Int) -> [[String: Any]] {
        (0..<count).map { ["id": "b\(batch)-\($0)", "embeddings": vectors(2, seed: UInt64(batch * 100_000 + $0))] }
    }

    private func manifestOnDisk(_ index: String) throws -> Manifest {
        try CompressedIndex(path: index).manifest
    }

    /// The 17th small add makes the server merge segments. With the files it may write capped
    /// (as a full disk would refuse them), the merge fails after the add committed: the add is
    /// answered as landed, its documents are searched, and the next write retries the merge.
    func testAMergeThatFailsAfterTheAddCommittedDoesNotFailTheAdd() throws {
        let index = path("capped")
        let server = try ServerProcess(self, arguments: ["--index", index, "--create", "--dim", "\(dim)"])
        for batch in 0..<16 {
            let added = try server.request("POST", "/documents", ["documents": documents(200, batch: batch)])
            XCTAssertEqual(added.status, 201, added.error ?? "")
        }
        XCTAssertEqual(try server.request("GET", "/info").json["segments"] as? Int, 16)
        // Files of at most 16 KiB: an add's own files fit, a merge of eight segments does not.
        let pid = server.process.processIdentifier
        try plaidLimit(pid: pid, fileSize: "16384:unlimited")
        let added = try server.request("POST", "/documents", ["documents": documents(200, batch: 16)])
        XCTAssertEqual(added.status, 201, "the add committed, so it is answered as landed: \(added.error ?? "")")
        XCTAssertEqual(added.json["documents"] as? Int, 17 * 200)
        let info = try server.request("GET", "/info").json
        let onDisk = try manifestOnDisk(index)
        XCTAssertEqual(info["generation"] as? Int, onDisk.generation)
        XCTAssertEqual(info["documents"] as? Int, onDisk.documentCount)
        XCTAssertEqual(info["segments"] as? Int, 17, "the merge was expected to fail")
        let found = try server.request("POST", "/search", ["query_embeddings": [vectors(2, seed: 16 * 100_000 + 7)], "k": 3,
                                                           "filter": "id = ?", "filter_params": ["b16-7"]])
        XCTAssertEqual(((found.json["results"] as? [[[String: Any]]])?.first?.first?["id"]) as? String, "b16-7")
        XCTAssertTrue(server.stderr.contains("merging segments after it failed"), server.stderr)
        // Room again: the next write merges.
        try plaidLimit(pid: pid, fileSize: "unlimited:unlimited")
        let next = try server.request("POST", "/documents", ["documents": documents(10, batch: 17)])
        XCTAssertEqual(next.status, 201, next.error ?? "")
        let merged = try server.request("GET", "/info").json
        XCTAssertLessThanOrEqual(merged["segments"] as? Int ?? 99, 16)
        XCTAssertEqual(merged["documents"] as? Int, 17 * 200 + 10)
        XCTAssertEqual(merged["generation"] as? Int, try manifestOnDisk(index).generation)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// Huge finite values (1e18 squares past float32's range) crashed k-means on the first add,
    /// and gave infinite scores (a 500) in a search or a rerank: each is a 400 naming the field.
    func testHugeFiniteVectorsAreRefusedWithASentence() throws {
        let server = try ServerProcess(self, arguments: ["--index", path("huge"), "--create", "--dim", "\(dim)"])
        for value in [Float(1e18), 1e20, 1e38] {
            let row = [value] + [Float](repeating: 0, count: dim - 1)
            let added = try server.request("POST", "/documents", ["documents": (0..<20).map { ["id": "d\($0)", "embeddings": [row, row]] }])
            XCTAssertEqual(added.status, 400, added.error ?? "")
            XCTAssertTrue(added.error?.contains("norm") ?? false, added.error ?? "")
        }
        let ok = try server.request("POST", "/documents", ["documents": documents(40, batch: 0)])
        XCTAssertEqual(ok.status, 201, ok.error ?? "")
        let huge = [[Float(1e38)] + [Float](repeating: 0, count: dim - 1)]
        let search = try server.request("POST", "/search", ["query_embeddings": [huge]])
        XCTAssertEqual(search.status, 400, search.error ?? "")
        let rerank = try server.request("POST", "/rerank", ["query_embeddings": huge, "documents": [["id": "a", "embeddings": vectors(2, seed: 1)]]])
        XCTAssertEqual(rerank.status, 400, rerank.error ?? "")
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }

    /// `plaid serve --create` on a bare relative name trapped in Foundation's path splitting.
    func testCreateOnARelativeOneComponentPathStarts() throws {
        let (process, stdout, stderr) = try PlaidProcess(directory: directory, workingDirectory: directory)
            .launch(["serve", "--index", "m", "--create", "--dim", "\(dim)", "--port", "0"])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline, !((try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "").contains("listening") {
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(process.isRunning, (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("m/manifest.plaid")))
    }

    private func plaidLimit(pid: Int32, fileSize: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        process.arguments = ["--pid", "\(pid)", "--fsize=\(fileSize)"]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "prlimit failed")
    }

    /// A commit that lands but whose snapshot cannot be opened: the write is answered as landed,
    /// then every request is refused (503) rather than served from the old snapshot, until the
    /// snapshot opens and shows the write.
    func testACommitWhoseSnapshotCannotOpenIsAnsweredAndNothingStaleIsServed() async throws {
        try plaid(["synthesize", "--documents", "40", "--dim", "\(dim)", "--min-tokens", "2", "--max-tokens", "6", "--output", path("emb")])
        try plaid(["build", "--embeddings", path("emb"), "--index", path("index"), "--centroids", "8"])
        let service = try RetrievalService(indexPath: path("index"), encoder: nil, threads: 1, limits: .init())
        defer { service.close() }
        let logged = LockedLog()
        service.log = { logged.append($0) }
        let working = service.openSnapshot
        service.openSnapshot = { _, _ in throw PlaidError.io(path: "/nowhere", detail: "injected failure") }
        let vector = RetrievalService.Vectors(values: [1, 0, 0, 0, 0, 0, 0, 0], count: 1, width: 8)
        let added = try await service.add([.init(id: "new", vectors: vector)], upsert: false, deadline: Deadline(seconds: nil))
        XCTAssertEqual(added.generation, 2)
        XCTAssertEqual(added.documents, 41)
        XCTAssertThrowsError(try service.snapshot) { error in
            XCTAssertEqual(APIError.from(error).status, .serviceUnavailable)
        }
        let search = RetrievalService.Search(vectors: [vector], filter: "id = 'new'")
        do {
            _ = try await service.search(search, deadline: Deadline(seconds: nil))
            XCTFail("a search was served from a snapshot that misses an answered write")
        } catch {
            XCTAssertEqual(APIError.from(error).status, .serviceUnavailable)
        }
        do {
            _ = try await service.delete(ids: ["new"], deadline: Deadline(seconds: nil))
            XCTFail("a write landed while searches could not see the commit before it")
        } catch {
            XCTAssertEqual(APIError.from(error).status, .serviceUnavailable)
        }
        XCTAssertTrue(logged.lines.contains { $0.contains("injected failure") }, "\(logged.lines)")
        service.openSnapshot = working
        XCTAssertEqual(try service.snapshot.generation, 2)
        let answer = try await service.search(search, deadline: Deadline(seconds: nil))
        XCTAssertEqual(answer.hits.first?.map(\.id), ["new"])
    }
}

private final class LockedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}
