import XCTest
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

final class IndexStorageTests: XCTestCase {
    private var directory = ""
    private var embeddings: DocumentEmbeddings!

    override func setUpWithError() throws {
        directory = temporaryDirectory()
        (_, embeddings) = try smallCorpus(in: directory)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func build(_ name: String, seed: UInt64 = 42, nbits: Int = 2, overwrite: Bool = false) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        _ = try IndexBuilder.build(from: embeddings, at: path,
                                   parameters: BuildParameters(nbits: nbits, kmeans: KMeansParameters(seed: seed), chunkTokens: 500),
                                   overwrite: overwrite)
        return path
    }

    /// Every file of the index, by path relative to it (the writer lock aside).
    private func fileBytes(_ path: String) -> [String: Data] {
        var out: [String: Data] = [:]
        for file in indexFiles(path) { out[file] = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(file)) }
        return out
    }

    private func indexFiles(_ path: String) -> [String] {
        (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).filter { file in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(file), isDirectory: &isDirectory)
            return !isDirectory.boolValue && file != "writer.lock"
        }.sorted()
    }

    func testSameInputAndSeedGiveByteIdenticalFiles() throws {
        let a = try build("a"), b = try build("b"), c = try build("c", seed: 43)
        XCTAssertEqual(fileBytes(a), fileBytes(b))
        XCTAssertNotEqual(fileBytes(a)["centroids-1.plaid"], fileBytes(c)["centroids-1.plaid"])
        XCTAssertNotNil(fileBytes(a)["centroids-1.plaid"])
    }

    func testOpenedIndexDescribesTheCorpus() throws {
        let opened = try CompressedIndex(path: try build("i"))
        XCTAssertEqual(opened.documentCount, embeddings.documentCount)
        XCTAssertEqual(opened.tokenCount, embeddings.tokenCount)
        XCTAssertEqual(opened.liveDocumentIDs, embeddings.ids)
        XCTAssertEqual(opened.generation, 1)
        XCTAssertEqual(opened.segments.count, 1)
        let index = opened.segments[0]
        XCTAssertEqual(index.documentIDs, embeddings.ids)
        XCTAssertEqual(index.documentLengths, embeddings.lengths)
        // Every document is in the list of each centroid one of its tokens went to, and lists are sorted and unique.
        var postings = 0
        for c in 0..<index.invertedLists.listCount {
            let docs = index.invertedLists.documents(inList: c)
            XCTAssertEqual(docs, Array(Set(docs)).sorted())
            postings += docs.count
        }
        XCTAssertEqual(postings, index.invertedLists.totalPostings)
        for d in [0, 17, embeddings.documentCount - 1] {
            let width = index.info.codeWidth
            let codes = index.codes(ofDocument: d)
            for t in 0..<index.documentLengths[d] {
                let code = width == 1 ? Int(codes.load(fromByteOffset: t, as: UInt8.self)) : Int(codes.loadUnaligned(fromByteOffset: 2 * t, as: UInt16.self))
                XCTAssertTrue(index.invertedLists.documents(inList: code).contains(d))
            }
        }
    }

    func testReconstructionIsCloseToTheOriginal() throws {
        for nbits in [1, 2, 4] {
            let index = try CompressedIndex(path: try build("n\(nbits)", nbits: nbits))
            let d = 5
            let n = embeddings.lengths[d]
            var original = [Float](repeating: 0, count: n * embeddings.dim)
            try original.withUnsafeMutableBufferPointer { try embeddings.copyTokens(start: embeddings.offsets[d], count: n, into: $0.baseAddress!) }
            let decoded = index.reconstruct(document: d)
            var cosine: Float = 0
            for t in 0..<n {
                var dot: Float = 0, norm: Float = 0
                for j in 0..<embeddings.dim { dot += original[t * embeddings.dim + j] * decoded[t * embeddings.dim + j]; norm += decoded[t * embeddings.dim + j] * decoded[t * embeddings.dim + j] }
                cosine += dot / norm.squareRoot()
            }
            XCTAssertGreaterThan(cosine / Float(n), nbits == 1 ? 0.8 : 0.9, "nbits \(nbits)")
        }
    }

    private func assertOpenFails(_ path: String, naming file: String, _ message: String, line: UInt = #line) {
        XCTAssertThrowsError(try CompressedIndex(path: path), message, line: line) { error in
            XCTAssertTrue("\(error)".contains(file), "error should name \(file): \(error)", line: line)
        }
    }

    private func mutate(_ path: String, _ file: String, _ change: (inout Data) -> Void) throws {
        let url = URL(fileURLWithPath: (path as NSString).appendingPathComponent(file))
        var data = try Data(contentsOf: url)
        change(&data)
        try data.write(to: url)
    }

    func testFlippedByteIsDetected() throws {
        let files = indexFiles(try build("files"))
        XCTAssertEqual(files, ["centroids-1.plaid", "manifest.plaid"] + ["codes.plaid", "docids.plaid", "doclens.plaid", "ivf.plaid", "metadata.sqlite", "residuals.plaid"].map { "seg-000000/" + $0 })
        for (n, file) in files.enumerated() {
            let path = try build("flip-\(n)")
            try mutate(path, file) { data in data[data.count - 1] ^= 0x01 }
            assertOpenFails(path, naming: file, "a flipped payload byte in \(file)")
        }
        let path = try build("flip-header")
        try mutate(path, "seg-000000/codes.plaid") { $0[30] ^= 0x10 }
        assertOpenFails(path, naming: "codes.plaid", "a flipped header byte")
    }

    func testTruncatedFileIsDetected() throws {
        let path = try build("truncated")
        try mutate(path, "seg-000000/residuals.plaid") { $0.removeLast(7) }
        assertOpenFails(path, naming: "residuals.plaid", "a truncated file")
        let short = try build("short")
        try mutate(short, "seg-000000/ivf.plaid") { $0 = $0.prefix(20) }
        assertOpenFails(short, naming: "ivf.plaid", "a file shorter than its header")
    }

    func testWrongVersionIsDetected() throws {
        let path = try build("version")
        try mutate(path, "manifest.plaid") { $0[8] = 99 }
        XCTAssertThrowsError(try CompressedIndex(path: path)) { error in
            XCTAssertTrue("\(error)".contains("manifest.plaid") && "\(error)".contains("version 99"), "\(error)")
        }
    }

    func testForeignFileIsDetected() throws {
        let path = try build("foreign")
        try Data("this is not an index".utf8).write(to: URL(fileURLWithPath: (path as NSString).appendingPathComponent("seg-000000/doclens.plaid")))
        assertOpenFails(path, naming: "doclens.plaid", "a foreign file")
    }

    func testExistingIndexIsRefusedWithoutOverwriteAndKeptIntact() throws {
        let path = try build("existing")
        let before = fileBytes(path)
        XCTAssertThrowsError(try build("existing")) { XCTAssertTrue("\($0)".contains("pass overwrite: true"), "\($0)") }
        XCTAssertEqual(fileBytes(path), before)
        _ = try build("existing", seed: 7, overwrite: true)
        XCTAssertNotEqual(fileBytes(path), before)
        XCTAssertNoThrow(try CompressedIndex(path: path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [])
    }

    func testOverwriteNeverReplacesAFolderThatIsNotAnIndex() throws {
        let folder = (directory as NSString).appendingPathComponent("precious")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: folder + "/notes.txt"))
        XCTAssertThrowsError(try build("precious", overwrite: true)) { XCTAssertTrue("\($0)".contains("not a plaid index"), "\($0)") }
        XCTAssertEqual(FileManager.default.contents(atPath: folder + "/notes.txt"), Data("keep me".utf8))
    }

    func testIndexMovedAsideByAKilledBuildIsRestored() throws {
        let path = try build("moved")
        let before = fileBytes(path)
        // What a build killed between its two renames leaves: no index, the old one hidden beside it.
        let gone = ProcessIdentity(host: ProcessIdentity.current.host, pid: 4194300, started: 1)
        let aside = (directory as NSString).appendingPathComponent(".moved.replaced-\(gone.tag)")
        XCTAssertEqual(rename(path, aside), 0)
        XCTAssertThrowsError(try build("moved")) { XCTAssertTrue("\($0)".contains("pass overwrite: true"), "\($0)") }
        XCTAssertEqual(fileBytes(path), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: aside))
    }

    func testOutOfRangeCodeIsDetected() throws {
        let path = try build("code")
        // Rewrite one code to an id past the last centroid, with a valid checksum, so only the range check can catch it.
        let url = URL(fileURLWithPath: (path as NSString).appendingPathComponent("seg-000000/codes.plaid"))
        var data = try Data(contentsOf: url)
        let index = try CompressedIndex(path: path)
        XCTAssertEqual(index.segments[0].info.codeWidth, 2)
        data[64] = 0xFF; data[65] = 0xFF
        let payload = data.subdata(in: 64..<data.count)
        let header = ComponentHeader(component: .codes, encoding: .raw, decodedLength: UInt64(payload.count), storedLength: UInt64(payload.count),
                                     payloadChecksum: payload.withUnsafeBytes { plaid_checksum64($0.baseAddress, $0.count, UInt64(IndexComponent.codes.rawValue)) })
        try (Data(header.serialized()) + payload).write(to: url)
        XCTAssertThrowsError(try CompressedIndex(path: path)) { XCTAssertTrue("\($0)".contains("codes.plaid") && "\($0)".contains("65535"), "\($0)") }
    }

    func testFailedBuildLeavesNothingAndKeepsTheOldIndex() throws {
        let path = try build("kept")
        let before = fileBytes(path)
        // nbits 3 is refused only inside the build, after the target was checked.
        XCTAssertThrowsError(try build("kept", nbits: 3, overwrite: true))
        // Bad input discovered mid-stream: a NaN in the last document.
        let bad = (directory as NSString).appendingPathComponent("bad")
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        var values = [Float](repeating: 0, count: embeddings.tokenCount * embeddings.dim)
        try values.withUnsafeMutableBufferPointer { try embeddings.copyTokens(start: 0, count: embeddings.tokenCount, into: $0.baseAddress!) }
        values[values.count - 3] = .nan
        try NPYWriter.write(path: (bad as NSString).appendingPathComponent("doc_embeddings.npy"), elementType: .float32, shape: [embeddings.tokenCount, embeddings.dim], floats: values)
        try NPYWriter.write(path: (bad as NSString).appendingPathComponent("doclens.npy"), elementType: .int64, shape: [embeddings.documentCount], floats: embeddings.lengths.map(Float.init))
        try EmbeddingsLayout.writeIDs(embeddings.ids, path: (bad as NSString).appendingPathComponent("doc_ids.json"))
        let badEmbeddings = try DocumentEmbeddings(directory: bad)
        XCTAssertThrowsError(try IndexBuilder.build(from: badEmbeddings, at: path, parameters: BuildParameters(kmeans: KMeansParameters(sampleSize: 100)), overwrite: true)) { error in
            XCTAssertTrue("\(error)".contains("doc_embeddings.npy") && "\(error)".contains("NaN"), "\(error)")
        }
        XCTAssertEqual(fileBytes(path), before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [])
    }
}
