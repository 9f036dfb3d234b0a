import Foundation
import PlaidCore

/// What building an index from texts did.
public struct TextBuildSummary: Sendable {
    public var encoding: EncodingSummary
    public var build: BuildSummary
}

extension IndexBuilder {
    /// Encodes the text collection at `collection` (JSONL or TSV, optionally .zst) with `encoder`
    /// in document mode and builds an index of it at `path`; the collection's lines also give
    /// the documents' metadata, and their title and text when `parameters.storedText` is set. The embeddings go to `keepEmbeddingsAt`, or to a hidden folder
    /// beside the index that is removed afterwards (and on SIGINT/SIGTERM, see `StagingFiles`).
    /// An index already at `path` is refused before any encoding unless `overwrite`.
    public static func build(collection: String, encoder: TextEncoder, at path: String,
                             parameters: BuildParameters = BuildParameters(), overwrite: Bool = false,
                             keepEmbeddingsAt: String? = nil, float16: Bool = false, batchSize: Int = 32,
                             showProgress: Bool = false) throws -> TextBuildSummary {
        // Refused before encoding, which is the long part.
        try AtomicDirectory.checkReplaceable(path, overwrite: overwrite)
        let metadata = try MetadataReader.fromCollection(path: collection)
        let texts = parameters.storedText == nil ? [:] : try StoredTextReader.fromCollection(path: collection).tokenized(by: encoder)
        return try withEmbeddings(of: collection, encoder: encoder, beside: path, keepingAt: keepEmbeddingsAt,
                                  float16: float16, batchSize: batchSize) { documents, encoding in
            let build = try IndexBuilder.build(from: documents, at: path, parameters: parameters, metadata: metadata, texts: texts,
                                               overwrite: overwrite, showProgress: showProgress)
            return TextBuildSummary(encoding: encoding, build: build)
        }
    }

    /// Encodes `collection` into `keepingAt` (or a scratch folder beside `indexPath`, removed
    /// when `body` returns or the process is stopped) and gives `body` the embeddings.
    static func withEmbeddings<T>(of collection: String, encoder: TextEncoder, beside indexPath: String, keepingAt: String?,
                                  float16: Bool, batchSize: Int,
                                  _ body: (DocumentEmbeddings, EncodingSummary) throws -> T) throws -> T {
        // What a killed run at this path left (its process gone) goes first.
        if keepingAt == nil { AtomicDirectory.removeStaleTemporaries(beside: indexPath) }
        let directory = keepingAt ?? AtomicDirectory.temporaryPath(for: indexPath, suffix: "embeddings")
        if keepingAt == nil { StagingFiles.register(directory) }
        defer {
            if keepingAt == nil {
                try? FileManager.default.removeItem(atPath: directory)
                StagingFiles.unregister(directory)
            }
        }
        let encoding = try CollectionEncoding.encode(collection, with: encoder, mode: .document, output: directory,
                                                     float16: float16, batchSize: batchSize)
        return try body(try DocumentEmbeddings(directory: directory), encoding)
    }
}

extension IndexWriter {
    /// Encodes the text collection at `collection` with `encoder` (the model that built the
    /// index) and stages its documents, with the metadata its lines give (and their title and
    /// text, when the index stores text), as
    /// `add(_:metadata:upsert:growCodebook:showProgress:)` does; `commit()` makes them visible.
    @discardableResult
    public func add(collection: String, encoder: TextEncoder, upsert: Bool = false, growCodebook: Bool = true,
                    batchSize: Int = 32, showProgress: Bool = false) throws -> AddSummary {
        try checkEncoderDimension(encoder)
        let metadata = try MetadataReader.fromCollection(path: collection)
        let texts = committed.storedText == nil ? [:] : try StoredTextReader.fromCollection(path: collection).tokenized(by: encoder)
        return try IndexBuilder.withEmbeddings(of: collection, encoder: encoder, beside: path, keepingAt: nil,
                                               float16: false, batchSize: batchSize) { documents, _ in
            try add(documents, metadata: metadata, texts: texts, upsert: upsert, growCodebook: growCodebook, showProgress: showProgress)
        }
    }

    /// Stages documents given as texts, encoded in memory with `encoder` (`chunk` texts per call,
    /// `beforeEachChunk` run before each: a caller's deadline); vectors recorded as the model's.
    /// When the index stores text, each text is stored too (without a title), with its tokens.
    @discardableResult
    public func add(texts: [TextRecord], encoder: TextEncoder, metadata: BatchMetadata = [:], upsert: Bool = false,
                    chunk: Int = 32, beforeEachChunk: () throws -> Void = {}) throws -> AddSummary {
        try checkEncoderDimension(encoder)
        let vectors = try encoder.vectors(of: texts.map(\.text), as: .document, chunk: chunk, batchSize: chunk,
                                          beforeEachChunk: beforeEachChunk)
        let batch = try DocumentBatch(ids: texts.map(\.id), documents: vectors, dim: encoder.dimension, sourceName: "the texts")
        batch.model = encoder.identity
        var stored: BatchTexts = [:]
        if committed.storedText != nil {
            for record in texts { stored[ByteExactID(record.id)] = DocumentText(text: record.text).tokenized(by: encoder) }
        }
        return try add(batch, metadata: metadata, texts: stored, upsert: upsert)
    }

    private func checkEncoderDimension(_ encoder: TextEncoder) throws {
        guard encoder.dimension == dim else {
            throw PlaidError.invalidArgument("the model \(encoder.identity.name) gives vectors of dimension \(encoder.dimension) but the index at \(path) has dimension \(dim); add with the model that built the index")
        }
    }
}
