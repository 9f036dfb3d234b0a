import Foundation
import PlaidCore

/// A model shared by the requests that run at once, one call at a time: each call already uses
/// every core, and `TextEncoder`s are not safe to call concurrently. The lock is held per call
/// (one chunk of `TextEncoder.vectors`), so requests take turns between chunks, and a request
/// checks its deadline between them without holding the model.
final class SerialEncoder: TextEncoder, @unchecked Sendable {
    private let encoder: TextEncoder
    private let lock = NSLock()

    init(_ encoder: TextEncoder) { self.encoder = encoder }

    var dimension: Int { encoder.dimension }
    var queryLength: Int { encoder.queryLength }
    var identity: ModelIdentity { serially { encoder.identity } }
    var tokensProcessed: Int { serially { encoder.tokensProcessed } }

    func encodeDocuments(_ texts: [String], batchSize: Int, progress: ((Int) -> Void)?) throws -> [[Float]] {
        try serially { try encoder.encodeDocuments(texts, batchSize: batchSize, progress: progress) }
    }

    func encodeQueries(_ texts: [String], batchSize: Int) throws -> [[Float]] {
        try serially { try encoder.encodeQueries(texts, batchSize: batchSize) }
    }

    func encodeQueryEmbeddings(ids: [String], texts: [String], batchSize: Int) throws -> QueryEmbeddings {
        try serially { try encoder.encodeQueryEmbeddings(ids: ids, texts: texts, batchSize: batchSize) }
    }

    // Tokenizing only: safe to run beside a call to the model (the encoders tokenize in parallel themselves).
    func queryTokenTexts(_ text: String) -> [String] { encoder.queryTokenTexts(text) }
    func documentTokens(_ text: String) -> [DocumentToken]? { encoder.documentTokens(text) }
    func tokenText(ofID id: Int) -> String? { encoder.tokenText(ofID: id) }

    private func serially<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
