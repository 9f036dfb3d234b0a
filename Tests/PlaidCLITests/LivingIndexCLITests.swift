import XCTest
import Foundation
import PlaidCore
import PlaidIndex

/// `plaid add`, `delete` and `compact` as a user runs them: killed at many points, locked,
/// and given bad input.
final class LivingIndexCLITests: PlaidCLITestCase {
    /// Synthetic embeddings whose ids start with `prefix`.
    private func synthesize(_ name: String, documents: Int, seed: Int, prefix: String = "doc", dim: Int = 32) throws -> String {
        try plaid(["synthesize", "--documents", "\(documents)", "--dim", "\(dim)", "--min-tokens", "10", "--max-tokens", "30",
                   "--seed", "\(seed)", "--output", path(name)])
        let idsPath = path(name) + "/doc_ids.json"
        let ids = try EmbeddingsLayout.readIDs(path: idsPath)
        try EmbeddingsLayout.writeIDs(ids.map { prefix + $0.dropFirst(3) }, path: idsPath)
        return path(name)
    }

    /// The commit an index is at: its generation and its live ids (compaction keeps the ids).
    private struct Commit: Equatable { var generation: Int; var ids: Set<String> }
    private func commit(_ index: String) throws -> Commit {
        let opened = try CompressedIndex(path: index)      // every checksum verified
        return Commit(generation: opened.generation, ids: Set(opened.liveDocumentIDs))
    }

    private func copy(_ from: String, to name: String) throws -> String {
        try? FileManager.default.removeItem(atPath: path(name))
        try FileManager.default.copyItem(atPath: from, toPath: path(name))
        return path(name)
    }

    /// `kill -9` at 20 points spread over each command's run (add, attach, delete, compact) (its duration measured first): afterwards the index opens, passes
    /// its checksums, and holds exactly the old or the new set of ids. A later writer then works
    /// (the dead writer's lock is free and its files are collected).
    func testKilledAddDeleteAndCompactLeaveTheOldOrTheNewCommit() throws {
        let base = try synthesize("base", documents: 1500, seed: 1, dim: 64)
        let batch = try synthesize("batch", documents: 1500, seed: 2, prefix: "new", dim: 64)
        let pristine = path("pristine")
        try plaid(["build", "--embeddings", base, "--index", pristine, "--centroids", "256"])
        // 200 of 1,500 documents stay below the automatic compaction's 20%; 400 pass it.
        try (0..<200).map { "doc\($0 * 7)" }.joined(separator: "\n").write(toFile: path("ids.txt"), atomically: true, encoding: .utf8)
        try (0..<400).map { "doc\($0 * 3)" }.joined(separator: "\n").write(toFile: path("many-ids.txt"), atomically: true, encoding: .utf8)
        // For compaction: two segments and deletions to drop.
        let fragmented = try copy(pristine, to: "fragmented")
        try plaid(["add", "--index", fragmented, "--embeddings", batch])
        try plaid(["delete", "--index", fragmented, "--ids", path("ids.txt")])
        XCTAssertEqual(try CompressedIndex(path: fragmented).segments.count, 2)
        // For attach: the batch as a segment coded with the index's own codebook.
        try plaid(["segment", "build", "--codebook", pristine, "--embeddings", batch, "--output", path("segment")])

        let commands: [(name: String, start: String, arguments: (String) -> [String])] = [
            ("add", pristine, { ["add", "--index", $0, "--embeddings", batch] }),
            ("attach", pristine, { ["attach", "--index", $0, self.path("segment")] }),
            ("delete", pristine, { ["delete", "--index", $0, "--ids", self.path("ids.txt")] }),
            ("compact", fragmented, { ["compact", "--index", $0] }),
            // Two commits in one command: the deletion, then the compaction it triggers.
            ("delete and compact", pristine, { ["delete", "--index", $0, "--ids", self.path("many-ids.txt")] }),
        ]
        for command in commands {
            let old = try commit(command.start)
            // The longest of three complete runs, so that a loaded machine still spreads the kills over the whole run.
            var duration = 0.0
            var finished = ""
            for _ in 0..<3 {
                finished = try copy(command.start, to: "finished")
                let started = Date()
                try plaid(command.arguments(finished))
                duration = max(duration, Date().timeIntervalSince(started))
            }
            let new = try commit(finished)
            XCTAssertEqual(new.generation, old.generation + (command.name == "delete and compact" ? 2 : 1))
            if command.name != "compact" { XCTAssertNotEqual(old.ids, new.ids) }
            var outcomes = ["old": 0, "new": 0]
            var victim = ""
            for point in 0..<20 {
                victim = try copy(command.start, to: "killed")
                let (process, _, _) = try PlaidProcess(directory: directory).launch(command.arguments(victim))
                // Spread over 1.5 runs' time, so the last points fall after the commit, and the
                // ones in between on every phase of the run.
                usleep(useconds_t(1.5 * duration * (Double(point) + 0.5) / 20 * 1e6))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let state = try commit(victim)
                let committed = state.ids == new.ids && (old.generation + 1...new.generation).contains(state.generation)
                XCTAssertTrue(state == old || committed, "\(command.name) killed at point \(point) left neither the old nor a new commit")
                outcomes[state == old ? "old" : "new", default: 0] += 1
            }
            print("kill -9 during plaid \(command.name) (a run takes \(String(format: "%.2f", duration)) s): \(outcomes)")
            XCTAssertGreaterThan(outcomes["old"]!, 0, "no kill landed before the commit of \(command.name)")
            XCTAssertGreaterThan(outcomes["new"]!, 0, "no kill landed after the commit of \(command.name)")
            // The next writer finds the lock free and removes what the killed one left.
            try plaid(["compact", "--index", victim])
            let manifest = try CompressedIndex(path: victim).manifest
            let entries = try FileManager.default.contentsOfDirectory(atPath: victim).sorted()
            XCTAssertEqual(entries, ([manifest.codebook.centroidsFile, "manifest.plaid", "writer.lock"] + manifest.segments.map(\.name)).sorted())
        }
    }

    func testASecondWriterIsRefusedNamingTheLockHolder() throws {
        let embeddings = try synthesize("emb", documents: 60, seed: 1)
        let index = path("index")
        try plaid(["build", "--embeddings", embeddings, "--index", index, "--centroids", "16"])
        let before = try indexFiles(index)
        let holder = try IndexWriter(path: index)
        for arguments in [["delete", "--index", index, "--id", "doc1"], ["compact", "--index", index]] {
            let refused = try plaid(arguments, expect: nil)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains("is locked by process \(getpid())"), refused.stderr)
        }
        holder.close()
        XCTAssertEqual(try indexFiles(index), before)
        try plaid(["delete", "--index", index, "--id", "doc1"])
    }

    func testBadInputIsOneSentenceAndChangesNothing() throws {
        let embeddings = try synthesize("emb", documents: 60, seed: 1)
        let index = path("index")
        try plaid(["build", "--embeddings", embeddings, "--index", index, "--centroids", "16"])
        let before = try indexFiles(index)
        let wide = try synthesize("wide", documents: 5, seed: 3, prefix: "wide", dim: 64)
        let duplicate = try synthesize("duplicate", documents: 5, seed: 3, prefix: "dup")
        try EmbeddingsLayout.writeIDs(["dup0", "dup1", "dup2", "dup1", "dup4"], path: duplicate + "/doc_ids.json")
        let empty = path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try NPYWriter.write(path: empty + "/doc_embeddings.npy", elementType: .float32, shape: [0, 32], floats: [])
        try NPYWriter.write(path: empty + "/doclens.npy", elementType: .int64, shape: [0], floats: [])
        try EmbeddingsLayout.writeIDs([], path: empty + "/doc_ids.json")
        let existing = try synthesize("existing", documents: 3, seed: 4)
        try (0..<5).map { "d\($0)" }.joined(separator: "\n").write(toFile: path("unknown.txt"), atomically: true, encoding: .utf8)
        let cases: [(arguments: [String], message: String)] = [
            (["add", "--index", index, "--embeddings", wide], "dimension 64"),
            (["add", "--index", index, "--embeddings", empty], "holds no documents"),
            (["add", "--index", index, "--embeddings", duplicate], "duplicate id 'dup1'"),
            (["add", "--index", index, "--embeddings", existing], "('doc0', 'doc1', 'doc2'); pass --upsert to replace them"),
            (["delete", "--index", index, "--ids", path("unknown.txt"), "--strict"], "5 of the ids are not in the index"),
            // A device with no newline is an error about its line, not a missing file or a process that grows.
            (["delete", "--index", index, "--ids", "/dev/zero"], "line 1 is longer than"),
            (["add", "--index", embeddings, "--embeddings", wide], "is not a plaid index"),
            (["delete", "--index", embeddings, "--id", "doc1"], "is not a plaid index"),
        ]
        let embeddingsBefore = try FileManager.default.contentsOfDirectory(atPath: embeddings).sorted()
        for (arguments, message) in cases {
            let result = try plaid(arguments, expect: nil)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains(message), "\(arguments.joined(separator: " ")): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            XCTAssertEqual(try indexFiles(index), before, "\(arguments.joined(separator: " ")) changed the index")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: embeddings).sorted(), embeddingsBefore)
        // Without --strict, unknown ids are reported and counted, and the known ones deleted.
        let lenient = try plaid(["delete", "--index", index, "--ids", path("unknown.txt"), "--id", "doc3"])
        XCTAssertTrue(lenient.stderr.contains("deleted 1 documents") && lenient.stderr.contains("5 ids not in the index"), lenient.stderr)
        let info = try plaid(["info", "--index", index, "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(info.utf8)) as! [String: Any]
        XCTAssertEqual(object["documents"] as? Int, 59)
        XCTAssertEqual(object["deleted"] as? Int, 1)
        XCTAssertEqual(object["segments"] as? Int, 1)
        XCTAssertEqual(object["generation"] as? Int, 2)
    }
}
