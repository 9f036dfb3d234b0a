import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

/// `plaid segment`: segments built apart from any index, for `plaid attach`.
struct SegmentCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Build a segment with a shared codebook, on any machine, for plaid attach.",
        subcommands: [BuildSegment.self])
}

/// `plaid segment build`: one shard of a corpus coded into a segment directory.
struct BuildSegment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Code documents with a shared codebook into one segment directory, for plaid attach.",
        discussion: """
        --codebook is what plaid codebook train wrote, or any index (whose codebook is used: the segment \
        then attaches to that index). Takes the inputs of plaid build: --embeddings DIR or --collection \
        FILE (encoded with --model, the codebook's model). The segment never grows the codebook: tokens \
        far from every centroid are coded all the same and counted. Its files are checksummed, and \
        segment.plaid records the codebook's identity. The segment is written beside --output and moved \
        into place once complete: a build that fails or is stopped leaves what was there. --overwrite \
        replaces a segment at --output. Memory is bounded by --chunk-tokens.
        """)

    @Option(help: "The shared codebook (plaid codebook train) or an index whose codebook to use.")
    var codebook: String

    @Option(help: "Directory holding doc_embeddings.npy, doclens.npy and doc_ids.json (this or --collection).")
    var embeddings: String?

    @Option(help: "Text collection to encode and code: .jsonl or .tsv, optionally .zst (this or --embeddings).")
    var collection: String?

    @Option(help: "With --embeddings: documents' metadata, a JSONL file of objects with \"id\" and the fields.")
    var metadata: String?

    @Option(help: "With --embeddings, for a codebook that stores text: the collection the embeddings were encoded from.")
    var texts: String?

    @Option(help: "The segment directory to write.")
    var output: String

    @Flag(help: "Replace a segment already at --output (never a directory of other files).")
    var overwrite = false

    @Option(help: "Token vectors processed per step; peak memory grows with it.")
    var chunkTokens: Int = 1 << 16

    @OptionGroup var encoder: ModelOptions
    @OptionGroup var pooling: PoolingOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        guard (embeddings == nil) != (collection == nil) else {
            throw ValidationError("Give exactly one of --embeddings DIR (token embeddings) and --collection FILE (texts to encode).")
        }
        try pooling.validate(embeddingsGiven: embeddings != nil)
        if embeddings != nil && encoder.isGiven { throw ValidationError("--model goes with --collection; embeddings were encoded already.") }
        if metadata != nil && collection != nil { throw ValidationError("--metadata goes with --embeddings; a collection's metadata comes from its own lines.") }
        if texts != nil && embeddings == nil { throw ValidationError("--texts goes with --embeddings; a collection's texts come from its own lines.") }
        guard chunkTokens >= 1 else { throw ValidationError("--chunk-tokens must be at least 1.") }
        guard !output.isEmpty else { throw ValidationError("--output must name the segment directory to write.") }
        if let collection, !FileManager.default.fileExists(atPath: collection) { throw ValidationError("--collection \(collection) does not exist.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let started = Date()
            let shared = try SharedCodebook(path: codebook)
            let descriptor: SegmentDescriptor
            if let embeddings {
                let documents = try DocumentEmbeddings(directory: embeddings)
                let fields = try batchMetadata(file: metadata, collection: nil) { documents.ids }
                try requireTexts(texts, for: shared)
                let stored = try texts.map { try storedTexts(file: $0, for: documents.ids) } ?? [:]
                descriptor = try shared.buildSegment(from: documents, metadata: fields, texts: stored, at: output, overwrite: overwrite,
                                                     chunkTokens: chunkTokens, showProgress: true)
            } else {
                descriptor = try shared.buildSegment(collection: collection!, encoder: pooling.applied(to: try encoder.loadEncoder()), at: output,
                                                     overwrite: overwrite, chunkTokens: chunkTokens, batchSize: encoder.batchSize,
                                                     showProgress: true)
            }
            let info = descriptor.segment
            printStatus(String(format: "built segment %@: %d documents, %d tokens (%d beyond the codebook's outlier distance), codebook %@; %.1f s",
                               output, info.documentCount, info.tokenCount, info.outlierTokens ?? 0, descriptor.codebookIdentity,
                               Date().timeIntervalSince(started)))
        }
    }
}

/// With `--embeddings` and a codebook: `--texts` exactly when the codebook stores text. Without
/// them the documents would store empty texts that BM25 never finds.
func requireTexts(_ texts: String?, for shared: SharedCodebook) throws {
    if shared.storedText != nil && texts == nil {
        throw PlaidError.invalidArgument("the codebook at \(shared.path) stores text, so the documents need theirs: give --texts FILE, the collection the embeddings were encoded from (or code the collection itself with --collection)")
    }
    if shared.storedText == nil && texts != nil {
        throw PlaidError.invalidArgument("the codebook at \(shared.path) stores no text, so --texts has nothing to do; leave it out")
    }
}
