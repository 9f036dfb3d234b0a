import Foundation
import PlaidCore

/// A dataset folder in BEIR's layout: `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`
/// (each file may instead be zstd-compressed, with `.zst` appended to its name).
public struct BEIRDataset: Sendable {
    public let path: String
    public let split: String
    public let corpusPath: String
    public let queriesPath: String
    public let qrelsPath: String

    /// Finds the dataset's files; throws `missingFile` naming what is absent (for a split, the ones that exist).
    public init(path: String, split: String = "test") throws {
        self.path = path
        self.split = split
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PlaidError.missingFile(
                path: path, hint: "Expected a BEIR dataset folder with corpus.jsonl, queries.jsonl and qrels/; see datasets/README.md.")
        }
        corpusPath = try Self.locate(path, "corpus.jsonl", hint: "A BEIR dataset folder holds corpus.jsonl (or corpus.jsonl.zst).")
        queriesPath = try Self.locate(path, "queries.jsonl", hint: "A BEIR dataset folder holds queries.jsonl (or queries.jsonl.zst).")
        let splits = Self.availableSplits(path: path)
        qrelsPath = try Self.locate(
            path, "qrels/\(split).tsv",
            hint: splits.isEmpty
                ? "There is no qrels/<split>.tsv file in \(path)/qrels."
                : "Splits with qrels in this dataset: \(splits.joined(separator: ", ")).")
    }

    /// The splits that have a `qrels/<split>.tsv` (or `.tsv.zst`) file, sorted.
    public static func availableSplits(path: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path + "/qrels")) ?? []
        let splits = names.compactMap { name -> String? in
            if name.hasSuffix(".tsv.zst") { return String(name.dropLast(8)) }
            if name.hasSuffix(".tsv") { return String(name.dropLast(4)) }
            return nil
        }
        return Array(Set(splits)).sorted()
    }

    /// All documents, text = `(title + " " + text).strip()` (see `TextCollectionReader`).
    public func loadCorpus() throws -> [TextRecord] {
        try TextCollectionReader.read(path: corpusPath)
    }

    /// The split's judgments.
    public func loadQrels() throws -> Qrels {
        try Qrels.load(path: qrelsPath)
    }

    /// The queries judged in this split, in the order of the queries file (BEIR's loader, likewise, keeps only the
    /// queries that its qrels name). A judged query missing from the queries file is an error.
    public func loadQueries(judgedBy qrels: Qrels) throws -> [TextRecord] {
        var queries: [TextRecord] = []
        var found = Set<String>()
        try TextCollectionReader(path: queriesPath).forEach { record in
            if qrels.judgments[record.id] != nil {
                queries.append(record)
                found.insert(record.id)
            }
        }
        let absent = qrels.judgments.keys.filter { !found.contains($0) }.sorted()
        if !absent.isEmpty {
            throw PlaidError.invalidInput(
                file: queriesPath,
                detail: "expected a query for each query id judged in \(qrelsPath); \(absent.count) are missing, "
                    + "e.g. \(absent.prefix(5).map { "\"\($0)\"" }.joined(separator: ", "))")
        }
        return queries
    }

    private static func locate(_ folder: String, _ name: String, hint: String) throws -> String {
        let plain = folder + "/" + name
        if FileManager.default.fileExists(atPath: plain) { return plain }
        if FileManager.default.fileExists(atPath: plain + ".zst") { return plain + ".zst" }
        throw PlaidError.missingFile(path: plain, hint: hint)
    }
}
