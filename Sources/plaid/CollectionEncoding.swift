import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder

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
                                      queryLength: encoder.queryLength, float16: float16, model: encoder.identity)
    let label = mode == .document ? "encode documents" : "encode queries"
    let progress = ProgressReporter(label: label, total: count, unit: mode == .document ? "documents" : "queries")
    let start = Date()
    let tokensBefore = encoder.tokensProcessed
    func rate() -> String {
        let elapsed = Date().timeIntervalSince(start)
        return formatRate(elapsed > 0 ? Double(encoder.tokensProcessed - tokensBefore) / elapsed : 0, "tokens")
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
