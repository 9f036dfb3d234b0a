import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder

extension EmbeddingMode: ExpressibleByArgument {}

/// `plaid encode`: texts → ColBERT token embeddings on disk, with the native encoder.
struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode documents or queries into ColBERT token embeddings.",
        discussion: """
        Give --collection FILE for documents or --queries FILE for queries (--input FILE --mode document|query \
        is the older spelling). Reads JSONL (`_id` or `id`, `text`, optional `title`, as BEIR corpus.jsonl and \
        queries.jsonl) or TSV (`id<TAB>text`), optionally .zst-compressed. Documents become doc_embeddings.npy \
        [total_tokens, dim], doclens.npy (int32) and doc_ids.json; queries become query_embeddings.npy \
        [n, query_length, dim] and query_ids.json: the layout PyLate's and fast-plaid's index builders take \
        (the arrays of a collection, concatenated, with their lengths and ids). model.json records the model. \
        Files appear only when complete; existing embeddings are replaced only with --overwrite.
        """)

    @Option(help: "Document texts to encode: .jsonl or .tsv (optionally .zst).")
    var collection: String?

    @Option(help: "Query texts to encode: .jsonl or .tsv (optionally .zst).")
    var queries: String?

    @Option(help: "Texts to encode, with --mode (older spelling of --collection / --queries).")
    var input: String?

    @Option(help: "With --input: document or query.")
    var mode: EmbeddingMode?

    @Option(name: [.customLong("output-dir"), .customLong("output")], help: "Folder to write the embeddings into (created if missing).")
    var outputDirectory: String

    @Flag(help: "Store the embeddings as float16 instead of float32.")
    var float16 = false

    @Flag(help: "Replace embeddings already in the output folder.")
    var overwrite = false

    @OptionGroup var encoder: ModelOptions
    @OptionGroup var pooling: PoolingOptions
    @OptionGroup var reporting: ReportingOptions

    /// The texts and which side they are.
    var job: (input: String, mode: EmbeddingMode)? {
        switch (collection, queries, input) {
        case let (path?, nil, nil): return (path, .document)
        case let (nil, path?, nil): return (path, .query)
        case let (nil, nil, path?): return mode.map { (path, $0) }
        default: return nil
        }
    }

    func validate() throws {
        guard let job else {
            if input != nil && mode == nil { throw ValidationError("--input needs --mode document or --mode query (or give --collection or --queries instead).") }
            throw ValidationError("Give exactly one of --collection FILE (documents) and --queries FILE (queries).")
        }
        if mode != nil && input == nil { throw ValidationError("--mode goes with --input; --collection and --queries say the mode already.") }
        if job.mode == .query && pooling.poolFactor > 1 { throw ValidationError("--pool-factor pools documents; queries are never pooled.") }
        guard FileManager.default.fileExists(atPath: job.input) else {
            throw ValidationError("\(collection != nil ? "--collection" : queries != nil ? "--queries" : "--input") \(job.input) does not exist.")
        }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let job = self.job!
            try checkOutputDirectory(mode: job.mode)
            _ = try CollectionEncoding.encode(job.input, with: pooling.applied(to: try encoder.loadEncoder()), mode: job.mode, output: outputDirectory,
                                     float16: float16, batchSize: encoder.batchSize)
        }
    }

    /// Before any encoding: the output must be a folder (or not exist), and must not hold
    /// embeddings of the same mode unless --overwrite.
    func checkOutputDirectory(mode: EmbeddingMode) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: outputDirectory, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else {
            throw PlaidError.refused("--output-dir \(outputDirectory) is a file; embeddings are a folder of files. Give a folder path")
        }
        let names = mode == .document ? [EmbeddingsLayout.documentEmbeddings, EmbeddingsLayout.documentLengths, EmbeddingsLayout.documentIDs]
                                      : [EmbeddingsLayout.queryEmbeddings, EmbeddingsLayout.queryIDs]
        let existing = names.filter { FileManager.default.fileExists(atPath: (outputDirectory as NSString).appendingPathComponent($0)) }
        if !existing.isEmpty && !overwrite {
            throw PlaidError.refused("\(outputDirectory) already holds \(mode.rawValue) embeddings (\(existing.joined(separator: ", "))); pass --overwrite to replace them, or choose another --output-dir")
        }
    }
}
