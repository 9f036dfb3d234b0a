import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder

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

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case document, query
    }

    @Option(help: "Model folder or Hugging Face repo id in the local hub cache.")
    var model: String

    @Option(help: "Texts: .jsonl or .tsv (optionally .zst).")
    var input: String

    @Option(help: "document or query.")
    var mode: Mode

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

/// Writes the embeddings layout (`EmbeddingsLayout`) under temporary names and renames the files
/// into place only when everything is written, so a reader never sees a partial set.
final class EmbeddingsWriter {
    let directory: String
    let mode: Encode.Mode
    let dimension: Int
    let queryLength: Int
    private let embeddings: NPYWriter
    private let lengths: NPYWriter?
    private var ids: [String] = []
    private(set) var vectorCount = 0
    private let pending: [(temporary: String, final: String)]

    init(directory: String, mode: Encode.Mode, dimension: Int, queryLength: Int, float16: Bool) throws {
        self.directory = directory
        self.mode = mode
        self.dimension = dimension
        self.queryLength = queryLength
        let type: NPYElementType = float16 ? .float16 : .float32
        var pending: [(temporary: String, final: String)] = []
        func path(_ name: String) -> String {
            let final = (directory as NSString).appendingPathComponent(name)
            let temporary = (directory as NSString).appendingPathComponent(".\(name).partial")
            pending.append((temporary, final))
            return temporary
        }
        switch mode {
        case .document:
            embeddings = try NPYWriter(path: path(EmbeddingsLayout.documentEmbeddings), elementType: type, rowShape: [dimension])
            lengths = try NPYWriter(path: path(EmbeddingsLayout.documentLengths), elementType: .int32, rowShape: [])
        case .query:
            embeddings = try NPYWriter(path: path(EmbeddingsLayout.queryEmbeddings), elementType: type, rowShape: [queryLength, dimension])
            lengths = nil
        }
        self.pending = pending
    }

    /// Appends one text's vectors; `source` names the input file in errors.
    func append(id: String, vectors: [Float], source: String) throws {
        ids.append(id)
        let count = vectors.count / dimension
        switch mode {
        case .document:
            guard count > 0 else {
                throw PlaidError.invalidInput(file: source, detail: "document '\(id)' has no token vectors left after the skiplist")
            }
            try vectors.withUnsafeBufferPointer { try embeddings.append($0) }
            try lengths!.append(integers: [count])
        case .query:
            // A model without query expansion gives fewer vectors; zero rows pad them (readers allow zero query rows).
            var padded = Array(vectors.prefix(queryLength * dimension))
            padded += [Float](repeating: 0, count: queryLength * dimension - padded.count)
            try padded.withUnsafeBufferPointer { try embeddings.append($0) }
        }
        vectorCount += count
    }

    func finish() throws {
        try embeddings.finish()
        try lengths?.finish()
        let idsName = mode == .document ? EmbeddingsLayout.documentIDs : EmbeddingsLayout.queryIDs
        let idsFinal = (directory as NSString).appendingPathComponent(idsName)
        let idsTemporary = (directory as NSString).appendingPathComponent(".\(idsName).partial")
        try EmbeddingsLayout.writeIDs(ids, path: idsTemporary)
        for (temporary, final) in pending + [(idsTemporary, idsFinal)] {
            guard rename(temporary, final) == 0 else {
                throw PlaidError.io(path: final, detail: "cannot move the finished file into place: \(String(cString: strerror(errno)))")
            }
        }
    }
}
