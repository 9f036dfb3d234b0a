import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder

/// The `--model` option shared by the commands that encode text. Without it, the default model
/// folder `models/minilm-colbert` is used, looked up from the working directory and then from
/// the directories above the `plaid` executable (so `swift run` and `.build/release/plaid` find it).
struct ModelOptions: ParsableArguments {
    @Option(help: "ColBERT model: a PyLate/sentence-transformers folder or a Hugging Face repo id in the local hub cache (default: models/minilm-colbert).")
    var model: String?

    @Option(help: "Texts per forward pass of the encoder.")
    var batchSize: Int = 32

    @Option(help: ArgumentHelp(MatrixPrecision.help, valueName: "int16|float32"))
    var precision: MatrixPrecision = .int16

    static let defaultModelFolder = "models/minilm-colbert"

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, not \(batchSize).") }
    }

    /// The model to load: `--model`, else the default folder if it is assembled.
    func resolvedModel() throws -> String {
        if let model { return model }
        var candidates = [FileManager.default.currentDirectoryPath]
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 { candidates.append(directory.path); directory.deleteLastPathComponent() }
        for base in candidates {
            let folder = (base as NSString).appendingPathComponent(ModelOptions.defaultModelFolder)
            if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("model.safetensors")) { return folder }
        }
        throw PlaidError.missingFile(path: ModelOptions.defaultModelFolder + "/model.safetensors",
                                     hint: "The default model is not assembled: run scripts/setup.sh (or scripts/setup-default-model.sh) from the repository, or pass --model with a model folder. plaid never downloads models.")
    }

    func loadEncoder() throws -> ColBERTEncoder { try ColBERTEncoder(modelPath: try resolvedModel(), precision: precision) }
}

extension MatrixPrecision: ExpressibleByArgument {
    static let help = "How the encoder's dense layers multiply: int16 (16-bit integers with exact sums; faster, cosine within 1e-6 of float32) or float32 (OpenBLAS sgemm)."
}

/// What encoding a collection produced.
struct EncodingSummary {
    var texts: Int
    var tokens: Int
    var vectors: Int
    var seconds: Double
    var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

/// Encodes a text collection (JSONL or TSV, optionally .zst) into the embeddings layout in
/// `output`, a chunk of texts at a time so memory stays bounded; the encoder sorts each chunk by
/// length into batches and runs the batches of a chunk side by side on the cores. Progress
/// (texts/s, tokens/s, ETA) goes to stderr.
func encodeCollection(_ input: String, with encoder: ColBERTEncoder, mode: EmbeddingMode, output: String,
                      float16: Bool, batchSize: Int) throws -> EncodingSummary {
    // Reading the whole file once up front finds malformed lines before any encoding.
    var count = 0
    try TextCollectionReader(path: input).forEach { _ in count += 1 }
    guard count > 0 else { throw PlaidError.invalidInput(file: input, detail: "holds no texts") }
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    let writer = try EmbeddingsWriter(directory: output, mode: mode, dimension: encoder.dimension,
                                      queryLength: encoder.queryLength, float16: float16)
    let label = mode == .document ? "encode documents" : "encode queries"
    let progress = ProgressReporter(label: label, total: count, unit: mode == .document ? "documents" : "queries")
    let start = Date()
    let tokensBefore = encoder.tokensProcessed
    func rate() -> String {
        let elapsed = Date().timeIntervalSince(start)
        return String(format: "%.0f tokens/s", elapsed > 0 ? Double(encoder.tokensProcessed - tokensBefore) / elapsed : 0)
    }
    var done = 0
    let chunkSize = 8 * batchSize
    var chunk: [TextRecord] = []
    func flush() throws {
        guard !chunk.isEmpty else { return }
        let texts = chunk.map(\.text)
        let base = done
        let vectors: [[Float]]
        switch mode {
        case .query:
            vectors = try encoder.encodeQueries(texts, batchSize: batchSize)
        case .document:
            vectors = try encoder.encodeDocuments(texts, batchSize: batchSize) { finished in
                progress.update(base + finished, extra: rate())
            }
        }
        for (record, v) in zip(chunk, vectors) { try writer.append(id: record.id, vectors: v, source: input) }
        done += chunk.count
        progress.update(done, extra: rate())
        chunk.removeAll(keepingCapacity: true)
    }
    try TextCollectionReader(path: input).forEach { record in
        chunk.append(record)
        if chunk.count == chunkSize { try flush() }
    }
    try flush()
    try writer.finish()
    let seconds = Date().timeIntervalSince(start)
    progress.finish(extra: rate() + ", \(writer.vectorCount) vectors of dimension \(encoder.dimension) written to \(output)")
    return EncodingSummary(texts: count, tokens: encoder.tokensProcessed - tokensBefore, vectors: writer.vectorCount, seconds: seconds)
}
