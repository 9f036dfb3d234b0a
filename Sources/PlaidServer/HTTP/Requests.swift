import Foundation
import PlaidIndex

// The JSON bodies the API takes (docs/openapi.json), decoded strictly: a key the API does not
// know is an error naming it, so that a misspelt `filter_parms` is not silently ignored.

/// Any key, to list the keys a body actually has.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Throws when the object holds a key not in `known`.
    func rejectUnknownKeys(_ known: [String], in what: String) throws {
        let keys = try container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw APIError.badRequest("\(what) has no field \"\(unknown)\"; it takes \(known.map { "\"\($0)\"" }.joined(separator: ", "))")
        }
    }
}

/// A JSON scalar given as a filter parameter; bound to the filter's `?` as text.
enum FilterParameter: Decodable, Sendable {
    case text(String)

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .text(b ? "1" : "0"); return }
        if let i = try? c.decode(Int64.self) { self = .text(String(i)); return }
        if let d = try? c.decode(Double.self) { self = .text(String(d)); return }
        if let s = try? c.decode(String.self) { self = .text(s); return }
        throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "a filter parameter is a string, number or boolean"))
    }

    var text: String { switch self { case .text(let t): return t } }
}

/// `POST /search`.
struct SearchRequest: Decodable, Sendable {
    var queries: [String]?
    /// [queries][tokens][dim]; each query may have its own number of tokens.
    var queryEmbeddings: [[[Float]]]?
    var k: Int?
    var filter: String?
    var filterParams: [FilterParameter]?
    var ncells: Int?
    var centroidScoreThreshold: Float?
    var ndocs: Int?
    /// Whether results carry their documents' metadata (default true).
    var includeMetadata: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case queries, queryEmbeddings = "query_embeddings", k, filter, filterParams = "filter_params", ncells,
             centroidScoreThreshold = "centroid_score_threshold", ndocs, includeMetadata = "include_metadata"
    }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "a search request")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        queries = try c.decodeIfPresent([String].self, forKey: .queries)
        queryEmbeddings = try c.decodeIfPresent([[[Float]]].self, forKey: .queryEmbeddings)
        k = try c.decodeIfPresent(Int.self, forKey: .k)
        filter = try c.decodeIfPresent(String.self, forKey: .filter)
        filterParams = try c.decodeIfPresent([FilterParameter].self, forKey: .filterParams)
        ncells = try c.decodeIfPresent(Int.self, forKey: .ncells)
        centroidScoreThreshold = try c.decodeIfPresent(Float.self, forKey: .centroidScoreThreshold)
        ndocs = try c.decodeIfPresent(Int.self, forKey: .ndocs)
        includeMetadata = try c.decodeIfPresent(Bool.self, forKey: .includeMetadata)
    }
}

/// One document of `POST /documents` or `POST /rerank`: text or vectors ([tokens][dim]).
struct DocumentInput: Decodable, Sendable {
    var id: String
    var text: String?
    var embeddings: [[Float]]?
    var metadata: [String: MetadataValue]?

    enum CodingKeys: String, CodingKey, CaseIterable { case id, text, embeddings, metadata }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "a document")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        text = try c.decodeIfPresent(String.self, forKey: .text)
        embeddings = try c.decodeIfPresent([[Float]].self, forKey: .embeddings)
        metadata = try c.decodeIfPresent([String: MetadataValue].self, forKey: .metadata)
    }
}

/// `POST /documents`.
struct AddRequest: Decodable, Sendable {
    var documents: [DocumentInput]
    var upsert: Bool

    enum CodingKeys: String, CodingKey, CaseIterable { case documents, upsert }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "an add request")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        documents = try c.decode([DocumentInput].self, forKey: .documents)
        upsert = try c.decodeIfPresent(Bool.self, forKey: .upsert) ?? false
    }
}

/// `DELETE /documents`.
struct DeleteRequest: Decodable, Sendable {
    var ids: [String]

    enum CodingKeys: String, CodingKey, CaseIterable { case ids }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "a delete request")
        ids = try decoder.container(keyedBy: CodingKeys.self).decode([String].self, forKey: .ids)
    }
}

/// `POST /rerank`.
struct RerankRequest: Decodable, Sendable {
    var query: String?
    /// [tokens][dim]
    var queryEmbeddings: [[Float]]?
    var documents: [DocumentInput]
    var k: Int?

    enum CodingKeys: String, CodingKey, CaseIterable { case query, queryEmbeddings = "query_embeddings", documents, k }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "a rerank request")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        query = try c.decodeIfPresent(String.self, forKey: .query)
        queryEmbeddings = try c.decodeIfPresent([[Float]].self, forKey: .queryEmbeddings)
        documents = try c.decode([DocumentInput].self, forKey: .documents)
        k = try c.decodeIfPresent(Int.self, forKey: .k)
    }
}

/// `POST /encode`.
struct EncodeRequest: Decodable, Sendable {
    enum Mode: String, Decodable, Sendable { case query, document }
    var texts: [String]
    var mode: Mode

    enum CodingKeys: String, CodingKey, CaseIterable { case texts, mode }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "an encode request")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        texts = try c.decode([String].self, forKey: .texts)
        let mode = try c.decode(String.self, forKey: .mode)
        guard let parsed = Mode(rawValue: mode) else {
            throw APIError.badRequest("field mode must be \"query\" or \"document\", not \"\(mode)\"")
        }
        self.mode = parsed
    }
}
