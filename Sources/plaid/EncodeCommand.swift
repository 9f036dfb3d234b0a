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
        Reads JSONL (`_id` or `id`, `text`, optional `title`, as BEIR corpus.jsonl and queries.jsonl) or \
        TSV (`id<TAB>text`), optionally .zst-compressed. Document mode writes doc_embeddings.npy \
        [total_tokens, dim], doclens.npy (int32) and doc_ids.json; query mode writes \
        query_embeddings.npy [n, query_length, dim] and query_ids.json. Files appear only when complete.
        The model is a PyLate folder or a Hugging Face repo id already in the local hub cache; nothing \
        is downloaded (scripts/setup-default-model.sh assembles the default, models/minilm-colbert).
        """)

    @Option(help: "Model folder or Hugging Face repo id in the local hub cache.")
    var model: String

    @Option(help: "Texts: .jsonl or .tsv (optionally .zst).")
    var input: String

    @Option(help: "document or query.")
    var mode: EmbeddingMode

    @Option(help: "Output directory (created if missing).")
    var output: String

    @Flag(help: "Store the embeddings as float16 instead of float32.")
    var float16 = false

    @Option(help: "Texts per forward pass.")
    var batchSize: Int = 32

    @Option(help: ArgumentHelp(MatrixPrecision.help, valueName: "int16|float32"))
    var precision: MatrixPrecision = .int16

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, not \(batchSize).") }
        guard FileManager.default.fileExists(atPath: input) else {
            throw ValidationError("--input \(input) does not exist.")
        }
    }

    func run() throws {
        try runReportingErrors {
            _ = try encodeCollection(input, with: try ColBERTEncoder(modelPath: model, precision: precision), mode: mode, output: output,
                                     float16: float16, batchSize: batchSize)
        }
    }
}
