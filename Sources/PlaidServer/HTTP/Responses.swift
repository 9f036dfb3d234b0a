import Foundation
import PlaidIndex

// The JSON bodies the API answers with (docs/openapi.json). Keys are snake_case by explicit
// coding keys: an encoder-wide key strategy would rename metadata fields too.

/// `POST /search`: `results[q]` are query q's hits, best first.
struct SearchResponse: Encodable, Sendable {
    struct Hit: Encodable, Sendable {
        var id: String
        var score: Float
        /// The document's fields; absent when it has none or the request asked for none.
        var metadata: [String: MetadataValue]?
    }
    var results: [[Hit]]
    var tookMs: Double

    enum CodingKeys: String, CodingKey { case results, tookMs = "took_ms" }
}

/// `POST /documents`.
struct AddResponse: Encodable, Sendable {
    /// Documents new to the index.
    var added: Int
    /// Live documents of the same ids that were replaced (upsert).
    var replaced: Int
    var tokens: Int
    /// Centroids appended for the batch's outlier vectors.
    var newCentroids: Int
    /// The commit that holds the change.
    var generation: Int
    /// Live documents after the commit.
    var documents: Int

    enum CodingKeys: String, CodingKey { case added, replaced, tokens, newCentroids = "new_centroids", generation, documents }
}

/// `DELETE /documents`.
struct DeleteResponse: Encodable, Sendable {
    var deleted: Int
    /// Ids that named no live document.
    var unknown: Int
    var unknownIDs: [String]
    var generation: Int
    var documents: Int

    enum CodingKeys: String, CodingKey { case deleted, unknown, unknownIDs = "unknown_ids", generation, documents }
}

/// `POST /rerank`: the documents, best first.
struct RerankResponse: Encodable, Sendable {
    struct Hit: Encodable, Sendable { var id: String; var score: Float }
    var results: [Hit]
    var tookMs: Double

    enum CodingKeys: String, CodingKey { case results, tookMs = "took_ms" }
}

/// `POST /encode`: `embeddings[i]` is text i's vectors, `[tokens][dim]`.
struct EncodeResponse: Encodable, Sendable {
    var embeddings: [[[Float]]]
    var dim: Int
}

extension MetadataValue: Encodable {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .integer(let i): try c.encode(i)
        case .float(let d): try c.encode(d)
        case .boolean(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .json(let text): try c.encode(NestedJSON(text: text))
        }
    }
}

/// An object or array stored as JSON text, written back as JSON (not as a string).
private struct NestedJSON: Encodable {
    var text: String

    func encode(to encoder: Encoder) throws {
        try JSONDecoder().decode(JSONTree.self, from: Data(text.utf8)).encode(to: encoder)
    }
}

/// Any JSON value, read and written unchanged.
private enum JSONTree: Codable {
    case null, boolean(Bool), integer(Int64), number(Double), string(String), array([JSONTree]), object([String: JSONTree])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .boolean(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONTree].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONTree].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .boolean(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
