import XCTest
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import PlaidServer
import PlaidCore
import PlaidIndex

/// An index of seeded documents in a temporary folder, served in process: the service, the
/// parser pool and the application `plaid serve` runs (`makeApplication`), without a socket.
/// Document i is `d<i>`, with the fields `shelf` (i mod 3) and `name`.
final class ServedIndex {
    static let dim = 16

    let folder: String
    let service: RetrievalService
    let application: Application<RouterResponder<BasicRequestContext>>
    private let parser: WorkerPool
    /// Document i's vectors, flattened `[tokens · dim]`.
    let documents: [[Float]]

    var index: String { folder + "/index" }

    init(documents count: Int = 60, encoder: TextEncoder? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        folder = NSTemporaryDirectory() + "plaid-server-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        documents = (0..<count).map { ServedIndex.vectors(4 + $0 % 9, seed: UInt64(1_000 + $0)).flatMap { $0 } }
        let index = folder + "/index"
        try IndexBuilder.createEmpty(at: index, dim: ServedIndex.dim, parameters: BuildParameters(nbits: 2))
        if count > 0 {
            let writer = try IndexWriter(path: index)
            let ids = (0..<count).map { "d\($0)" }
            let metadata: BatchMetadata = Dictionary(uniqueKeysWithValues: (0..<count).map {
                ("d\($0)", ["shelf": MetadataValue.integer(Int64($0 % 3)), "name": .string("document \($0)")])
            })
            try writer.add(try DocumentBatch(ids: ids, documents: documents, dim: ServedIndex.dim), metadata: metadata)
            _ = try writer.commit()
            writer.close()
        }
        var configuration = ServerConfiguration()
        configuration.threads = 2
        configure(&configuration)
        service = try RetrievalService(indexPath: index, encoder: encoder, threads: configuration.threads,
                                       limits: configuration.limits, readOnly: configuration.readOnly)
        parser = WorkerPool(threads: 1, name: "plaid-test-parse")
        application = makeApplication(service: service, parser: parser, configuration: configuration)
    }

    /// Ends the pools, releases the writer lock and removes the folder.
    func close() {
        parser.shutdown()
        service.close()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Seeded unit vectors, `[tokens][dim]`.
    static func vectors(_ tokens: Int, seed: UInt64) -> [[Float]] {
        var random = SeededRandom(seed: seed)
        return (0..<tokens).map { _ in
            let v = (0..<dim).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 + 0.001 }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
    }

    /// `flat` as rows of `dim`, the form a request sends.
    static func rows(_ flat: [Float]) -> [[Float]] {
        stride(from: 0, to: flat.count, by: dim).map { Array(flat[$0..<($0 + dim)]) }
    }
}

class ServerTestCase: XCTestCase {
    /// A `ServedIndex` closed when the test ends.
    func serve(documents: Int = 60, encoder: TextEncoder? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> ServedIndex {
        let served = try ServedIndex(documents: documents, encoder: encoder, configure: configure)
        addTeardownBlock { served.close() }
        return served
    }
}

/// An answer as a client reads it.
struct Answer {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    /// The sentence of an error answer.
    var error: String? { json["error"] as? String }
    /// Whether the body is exactly `{"error": sentence}`.
    var isOneSentence: Bool { json.count == 1 && error != nil }
    /// `results[q]` of a search.
    func hits(_ q: Int = 0) -> [[String: Any]] {
        let results = json["results"] as? [[[String: Any]]] ?? []
        return q < results.count ? results[q] : []
    }
}

extension TestClientProtocol {
    /// One request; `body` is JSON-serialised unless it is already `Data`, and sent with
    /// `contentType` (none when nil).
    func send(_ method: HTTPRequest.Method, _ uri: String, _ body: Any? = nil, contentType: String? = "application/json",
              headers: HTTPFields = [:]) async throws -> Answer {
        var headers = headers
        var buffer: ByteBuffer?
        if let body {
            let data = try (body as? Data) ?? JSONSerialization.data(withJSONObject: body)
            buffer = ByteBuffer(bytes: data)
            if let contentType { headers[.contentType] = contentType }
        }
        let response = try await execute(uri: uri, method: method, headers: headers, body: buffer)
        return Answer(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
    }
}

/// A model stand-in that needs no weights: each word of a text is one vector, seeded by the
/// word. Queries keep at most `queryLength` words and are not padded (as from a model without
/// query expansion). Records every call, and may take `delay` seconds over each.
final class WordEncoder: TextEncoder, @unchecked Sendable {
    struct Call: Equatable { var kind: String; var texts: Int; var batchSize: Int }

    let dimension: Int
    let queryLength: Int
    var delay: TimeInterval = 0
    var tokensProcessed = 0
    private let lock = NSLock()
    private var recorded: [Call] = []

    init(dimension: Int = ServedIndex.dim, queryLength: Int = 6) {
        self.dimension = dimension
        self.queryLength = queryLength
    }

    var identity: ModelIdentity {
        ModelIdentity(name: "word-encoder", path: "/models/word-encoder", hash: "0", dim: dimension, queryLength: queryLength,
                      documentLength: 64, queryPrefix: "", documentPrefix: "", precision: "float32")
    }

    var calls: [Call] { lock.lock(); defer { lock.unlock() }; return recorded }

    /// A word's vector: seeded by the word's bytes (FNV-1a), unit length.
    func vector(_ word: Substring) -> [Float] {
        let seed = word.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        var random = SeededRandom(seed: seed)
        let v = (0..<dimension).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 + 0.001 }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / norm }
    }

    func encodeDocuments(_ texts: [String], batchSize: Int, progress: ((Int) -> Void)?) throws -> [[Float]] {
        record(Call(kind: "documents", texts: texts.count, batchSize: batchSize))
        return texts.map { $0.split(separator: " ").flatMap(vector) }
    }

    func encodeQueries(_ texts: [String], batchSize: Int) throws -> [[Float]] {
        record(Call(kind: "queries", texts: texts.count, batchSize: batchSize))
        return texts.map { $0.split(separator: " ").prefix(queryLength).flatMap(vector) }
    }

    func encodeQueryEmbeddings(ids: [String], texts: [String], batchSize: Int) throws -> QueryEmbeddings {
        record(Call(kind: "query embeddings", texts: texts.count, batchSize: batchSize))
        let length = queryLength * dimension
        let values = texts.flatMap { text -> [Float] in
            let v = text.split(separator: " ").prefix(queryLength).flatMap(vector)
            return v + [Float](repeating: 0, count: length - v.count)
        }
        return QueryEmbeddings(ids: ids, tokensPerQuery: queryLength, dim: dimension, values: values, model: identity)
    }

    private func record(_ call: Call) {
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        lock.lock()
        recorded.append(call)
        lock.unlock()
    }
}
