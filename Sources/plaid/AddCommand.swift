import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

/// `plaid add`: append documents to an existing index in one commit.
struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add documents to an index (one atomic commit), from token embeddings or from texts.",
        discussion: """
        Takes the inputs of `plaid build`: exactly one of --embeddings DIR and --collection FILE (encoded \
        with --model in document mode first). New vectors are coded with the index's centroids and \
        residual codec; existing documents never change. An id already in the index is an error unless \
        --upsert replaces it in the same commit. When many new vectors lie far from every centroid, new \
        centroids are trained on them and appended (--no-grow-codebook turns this off). Memory is bounded \
        by --chunk-tokens, not by the batch. An index built with --store-text stores the new documents' \
        text too: from --collection, or with --embeddings from --texts FILE.
        """)

    @OptionGroup var index: IndexOptions

    @Option(help: "Directory holding doc_embeddings.npy, doclens.npy and doc_ids.json.")
    var embeddings: String?

    @Option(help: "Text collection to encode and add: .jsonl or .tsv, optionally .zst.")
    var collection: String?

    @Option(help: "With --embeddings: documents' metadata, a JSONL file of objects with \"id\" and the fields (with --collection, each line's metadata and extra fields are used).")
    var metadata: String?

    @Option(help: "With --embeddings, for an index that stores text: the collection the embeddings were encoded from, whose titles and texts are stored.")
    var texts: String?

    @Flag(help: "Replace documents whose id is already in the index, in the same commit.")
    var upsert = false

    @Flag(inversion: .prefixedNo, help: "Append centroids for new vectors far from every centroid.")
    var growCodebook = true

    @Option(help: "Token vectors processed per step; peak memory grows with it.")
    var chunkTokens: Int = 1 << 16

    @OptionGroup var encoder: ModelOptions
    @OptionGroup var pooling: PoolingOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try pooling.validate(embeddingsGiven: embeddings != nil)
        if embeddings != nil && encoder.isGiven {
            throw ValidationError("--model goes with --collection; embeddings were encoded already (plaid encode records their model in model.json).")
        }
        guard (embeddings == nil) != (collection == nil) else {
            throw ValidationError("Give exactly one of --embeddings DIR (token embeddings) and --collection FILE (texts to encode).")
        }
        guard chunkTokens >= 1 else { throw ValidationError("--chunk-tokens must be at least 1.") }
        if let collection, !FileManager.default.fileExists(atPath: collection) { throw ValidationError("--collection \(collection) does not exist.") }
        if metadata != nil && collection != nil { throw ValidationError("--metadata goes with --embeddings; a collection's metadata comes from its own lines.") }
        if texts != nil && embeddings == nil { throw ValidationError("--texts goes with --embeddings; a collection's texts come from its own lines.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            // The lock first: a second writer is told at once, before any encoding.
            let writer = try IndexWriter(path: index.index)
            defer { writer.close() }
            writer.chunkTokens = chunkTokens
            let started = Date()
            let added: AddSummary
            if let embeddings {
                let batch = try DocumentEmbeddings(directory: embeddings)
                let fields = try batchMetadata(file: metadata, collection: nil) { batch.ids }
                guard writer.storesText || texts == nil else {
                    throw PlaidError.invalidArgument("the index at \(index.index) stores no text, so --texts has nothing to do; leave it out")
                }
                if writer.storesText && texts == nil {
                    printWarning("the index stores text and --texts was not given: these documents store an empty text, and BM25 will not find them")
                }
                let stored = try texts.map { try storedTexts(file: $0, for: batch.ids) } ?? [:]
                added = try writer.add(batch, metadata: fields, texts: stored, upsert: upsert, growCodebook: growCodebook, showProgress: true)
            } else {
                added = try writer.add(collection: collection!, encoder: pooling.applied(to: try encoder.loadEncoder()), upsert: upsert,
                                       growCodebook: growCodebook, batchSize: encoder.batchSize, showProgress: true)
            }
            let commit = try writer.commit()
            var line = String(format: "added %d documents (%d tokens) to %@ in %.1f s (%@); generation %d",
                              added.documents, added.tokens, index.index, Date().timeIntervalSince(started),
                              formatRate(Double(added.tokens) / max(Date().timeIntervalSince(started), 1e-9), "tokens"), commit.generation)
            if upsert { line += "; \(added.replaced) replaced" }
            if added.newCentroids > 0 { line += "; \(added.newCentroids) centroids appended for \(added.outlierTokens) outlier tokens" }
            if commit.compacted { line += "; compacted" }
            printStatus(line)
            warnIfMaintenanceFailed(commit)
        }
    }
}

/// `plaid delete`: delete documents by id in one commit.
struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete documents from an index by id (one atomic commit).",
        discussion: """
        Ids come from --ids FILE (one per line) and --id (repeatable). Ids not in the index are reported \
        and counted; they are an error only with --strict, and then nothing is deleted. Deleted documents \
        are never returned once the command has returned; their space is reclaimed by compaction \
        (automatic once deleted tokens pass 20% of the index, or `plaid compact`).
        """)

    @OptionGroup var index: IndexOptions

    @Option(help: "File of ids to delete, one per line.")
    var ids: String?

    @Option(help: "An id to delete (repeatable).")
    var id: [String] = []

    @Flag(help: "Fail, deleting nothing, if any id is not in the index.")
    var strict = false

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        guard ids != nil || !id.isEmpty else { throw ValidationError("Give the ids to delete with --ids FILE or --id ID.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            var requested = id
            if let ids { requested += try readIDList(path: ids) }
            let writer = try IndexWriter(path: index.index)
            defer { writer.close() }
            let summary = try writer.delete(ids: requested)
            let unknown = summary.unknown.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (summary.unknown.count > 5 ? ", …" : "")
            if strict && !summary.unknown.isEmpty {
                throw PlaidError.refused("\(summary.unknown.count) of the ids are not in the index (\(unknown)); nothing was deleted (--strict)")
            }
            let commit = try writer.commit()
            if !summary.unknown.isEmpty { printWarning("\(summary.unknown.count) ids not in the index: \(unknown)") }
            printStatus("deleted \(summary.deleted) documents from \(index.index); generation \(commit.generation)\(commit.compacted ? "; compacted" : "")")
            warnIfMaintenanceFailed(commit)
        }
    }
}

/// The commit landed; the merge or compaction after it did not, which the user should know.
func warnIfMaintenanceFailed(_ commit: CommitSummary) {
    guard let failure = commit.maintenanceFailure else { return }
    printWarning("the commit (generation \(commit.generation)) is on disk, but merging segments after it failed: \(describe(failure)); the next write or `plaid compact` tries again")
}

/// Ids one per line; blank lines are skipped and a trailing carriage return is dropped. Read as
/// a stream (a pipe or `/dev/stdin` works), with lines of at most 16 MiB.
func readIDList(path: String) throws -> [String] {
    guard FileManager.default.fileExists(atPath: path) else {
        throw PlaidError.missingFile(path: path, hint: "--ids takes a file of ids, one per line.")
    }
    let lines = try LineReader(path: path)
    lines.maximumLineBytes = 16 << 20
    var ids: [String] = []
    while let line = try lines.nextLine() {
        guard !line.isEmpty else { continue }
        guard let id = String(validating: line, as: UTF8.self) else {
            throw PlaidError.invalidInput(file: path, detail: "line \(lines.lineNumber) is not UTF-8 text; expected one id per line")
        }
        ids.append(id)
    }
    return ids
}

/// `plaid compact`: rewrite the index without deleted documents, as one segment.
struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite an index without its deleted documents, its segments merged into one (one atomic commit).",
        discussion: "Codes and residuals are copied unchanged, so search results are the same before and after.")

    @OptionGroup var index: IndexOptions
    @OptionGroup var reporting: ReportingOptions

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let started = Date()
            let writer = try IndexWriter(path: index.index)
            defer { writer.close() }
            let before = writer.committed
            try writer.compact()
            printStatus(String(format: "compacted %@: %d segments and %d deleted documents before, 1 segment of %d documents now; generation %d; %.1f s",
                              index.index, before.segments.count, before.deletedCount, writer.committed.documentCount,
                              writer.committed.generation, Date().timeIntervalSince(started)))
        }
    }
}
