import Foundation

/// What encoding a collection produced.
public struct EncodingSummary: Sendable {
    public var texts: Int
    public var tokens: Int
    public var vectors: Int
    public var seconds: Double
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

/// Text collections (JSONL or TSV, optionally .zst) encoded into the embeddings layout.
public enum CollectionEncoding {
    /// Encodes the collection at `input` into the embeddings layout in `output`, a chunk of
    /// texts at a time so memory stays bounded; the encoder sorts each chunk by length into
    /// batches and runs the batches of a chunk side by side on the cores. Progress (texts/s,
    /// tokens/s, ETA) goes to stderr unless `ProgressReporter.quiet`. With `only`, just the texts
    /// at those positions (0-based, in file order) are encoded: a sample.
    public static func encode(_ input: String, with encoder: TextEncoder, mode: EmbeddingMode, output: String,
                              float16: Bool, batchSize: Int, only selection: Set<Int>? = nil) throws -> EncodingSummary {
        // Reading the whole file once up front finds malformed lines before any encoding.
        var count = 0
        try TextCollectionReader(path: input).forEach { _ in count += 1 }
        if let selection { count = selection.filter { $0 < count }.count }
        guard count > 0 else { throw PlaidError.invalidInput(file: input, detail: "holds no texts") }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let writer = try EmbeddingsWriter(directory: output, mode: mode, dimension: encoder.dimension,
                                          queryLength: encoder.queryLength, float16: float16, model: encoder.identity)
        let progress = ProgressReporter(label: mode == .document ? "encode documents" : "encode queries", total: count,
                                        unit: mode == .document ? "documents" : "queries")
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
            let base = done
            let vectors = try encoder.vectors(of: chunk.map(\.text), as: mode, chunk: chunk.count, batchSize: batchSize) { finished in
                progress.update(base + finished, extra: rate())
            }
            for (record, v) in zip(chunk, vectors) { try writer.append(id: record.id, vectors: v, source: input) }
            done += chunk.count
            chunk.removeAll(keepingCapacity: true)
        }
        var position = -1
        try TextCollectionReader(path: input).forEach { record in
            position += 1
            if let selection, !selection.contains(position) { return }
            chunk.append(record)
            if chunk.count == chunkSize { try flush() }
        }
        try flush()
        try writer.finish()
        progress.finish(extra: rate() + ", \(writer.vectorCount) vectors of dimension \(encoder.dimension) written to \(output)")
        return EncodingSummary(texts: count, tokens: encoder.tokensProcessed - tokensBefore, vectors: writer.vectorCount,
                               seconds: Date().timeIntervalSince(start))
    }
}
