import Foundation
import PlaidCore
import PlaidIndex

// The JSON bodies the API takes (docs/openapi.json), read from `JSONValue` strictly: a field the
// API does not know is an error naming it (a misspelt `filter_parms` is not silently ignored),
// and every type error names the field's path (`documents[2].embeddings[0]`).

/// One object of a body, read field by field. A field that is null counts as absent.
struct Fields {
    /// The object's path in the body ("" for the body itself).
    let path: String
    private let members: [String: JSONValue]

    init(_ value: JSONValue, at path: String = "", what: String, allowed: [String]) throws {
        guard case .object(let list) = value else {
            throw APIError.badRequest("\(path.isEmpty ? "the body" : "field \(path)") must be an object, not \(value.kind)")
        }
        if let unknown = list.first(where: { !allowed.contains($0.key) }) {
            throw APIError.badRequest("\(what) has no field \"\(unknown.key)\"; it takes \(allowed.map { "\"\($0)\"" }.joined(separator: ", "))")
        }
        self.path = path
        members = Dictionary(uniqueKeysWithValues: list.map { ($0.key, $0.value) })
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func value(_ key: String) -> JSONValue? {
        guard let value = members[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    func required<T>(_ value: T?, _ key: String) throws -> T {
        guard let value else { throw APIError.badRequest("field \(name(key)) is missing") }
        return value
    }

    func string(_ key: String) throws -> String? { try value(key).map { try $0.string(at: name(key)) } }
    func bool(_ key: String) throws -> Bool? { try value(key).map { try $0.bool(at: name(key)) } }
    func integer(_ key: String) throws -> Int? { try value(key).map { try $0.integer(at: name(key)) } }
    func number(_ key: String) throws -> Float? { try value(key).map { try $0.number(at: name(key)) } }
    func array(_ key: String) throws -> JSONElements? { try value(key).map { try $0.elements(at: name(key)) } }
    func strings(_ key: String) throws -> [String]? {
        try array(key).map { try $0.enumerated().map { i, v in try v.string(at: "\(name(key))[\(i)]") } }
    }
    /// `[tokens][dim]` numbers.
    func vectors(_ key: String) throws -> Matrix? { try value(key).map { try $0.vectors(at: name(key)) } }
}

/// Vectors as a request sends them, `[rows][width]`, flattened: one allocation however many rows.
struct Matrix: Sendable {
    var values: [Float]
    var rows: Int
    var width: Int
}

/// The elements of a JSON array, unpacked one at a time as they are read: a packed array is
/// never unpacked whole (a field that expects strings stops at its first element).
struct JSONElements: RandomAccessCollection, Sendable {
    fileprivate enum Storage: Sendable { case values([JSONValue]), numbers([Double]), rows([Double], width: Int) }
    fileprivate let storage: Storage

    var startIndex: Int { 0 }
    var endIndex: Int {
        switch storage {
        case .values(let values): return values.count
        case .numbers(let numbers): return numbers.count
        case .rows(let flat, let width): return flat.count / width
        }
    }

    subscript(i: Int) -> JSONValue {
        switch storage {
        case .values(let values): return values[i]
        case .numbers(let numbers): return .number(numbers[i], integer: Int64(exactly: numbers[i]))
        case .rows(let flat, let width): return .numbers(Array(flat[(i * width)..<((i + 1) * width)]))
        }
    }
}

extension JSONValue {
    private func mismatch(_ path: String, _ expected: String) -> APIError {
        .badRequest("field \(path) must be \(expected), not \(kind)")
    }

    func string(at path: String) throws -> String {
        guard case .string(let s) = self else { throw mismatch(path, "a string") }
        return s
    }

    func bool(at path: String) throws -> Bool {
        guard case .bool(let b) = self else { throw mismatch(path, "true or false") }
        return b
    }

    func integer(at path: String) throws -> Int {
        guard case .number(_, let integer?) = self, let value = Int(exactly: integer) else { throw mismatch(path, "an integer") }
        return value
    }

    func number(at path: String) throws -> Float {
        guard case .number(let d, _) = self else { throw mismatch(path, "a number") }
        return Float(d)
    }

    /// The elements of an array.
    func elements(at path: String) throws -> JSONElements {
        switch self {
        case .array(let values): return JSONElements(storage: .values(values))
        case .numbers(let numbers): return JSONElements(storage: .numbers(numbers))
        case .rows(let flat, let width): return JSONElements(storage: .rows(flat, width: width))
        default: throw mismatch(path, "an array")
        }
    }

    /// An array of arrays of numbers, `[rows][numbers]`, every row as long as the first.
    func vectors(at path: String) throws -> Matrix {
        switch self {
        case .numbers(let numbers) where numbers.isEmpty: return Matrix(values: [], rows: 0, width: 0)
        case .rows(let flat, let width): return Matrix(values: flat.map { Float($0) }, rows: flat.count / width, width: width)
        case .array(let rows):
            // Not packed: some row is not an array of numbers or not as long as the first, or
            // the body was read without packing.
            var width: Int?
            var values: [Float] = []
            for (r, row) in rows.enumerated() {
                let numbers = try row.numbers(at: "\(path)[\(r)]")
                if let width, numbers.count != width {
                    throw APIError.badRequest("field \(path)[\(r)] has \(numbers.count) numbers but \(path)[0] has \(width); every vector has the same dimension")
                }
                width = numbers.count
                values += numbers.map { Float($0) }
            }
            return Matrix(values: values, rows: values.isEmpty ? 0 : rows.count, width: width ?? 0)
        default: throw mismatch(path, "an array of arrays of numbers")
        }
    }

    /// The numbers of an array of numbers, packed or not.
    private func numbers(at path: String) throws -> [Double] {
        switch self {
        case .numbers(let numbers): return numbers
        case .array(let values):
            return try values.enumerated().map { i, value in
                guard case .number(let d, _) = value else { throw value.mismatch("\(path)[\(i)]", "a number") }
                return d
            }
        default: throw mismatch(path, "an array of numbers")
        }
    }

    /// A metadata value: scalars as they are, objects and arrays as compact JSON text.
    func metadataValue() -> MetadataValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .boolean(b)
        case .number(let d, let integer): return integer.map { .integer($0) } ?? .float(d)
        case .string(let s): return .string(s)
        case .numbers, .rows, .array, .object: return .json(compactText)
        }
    }

    /// The value written back as compact JSON.
    var compactText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d, let integer): return integer.map(String.init) ?? "\(d)"
        case .string(let s): return JSONValue.quoted(s)
        case .numbers(let numbers): return "[" + numbers.map { Int64(exactly: $0).map(String.init) ?? "\($0)" }.joined(separator: ",") + "]"
        case .rows(let flat, let width):
            return "[" + stride(from: 0, to: flat.count, by: width).map { JSONValue.numbers(Array(flat[$0..<($0 + width)])).compactText }.joined(separator: ",") + "]"
        case .array(let values): return "[" + values.map(\.compactText).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { JSONValue.quoted($0.key) + ":" + $0.value.compactText }.joined(separator: ",") + "}"
        }
    }

    private static func quoted(_ s: String) -> String {
        let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// `POST /search`.
struct SearchRequest: Sendable {
    var queries: [String]?
    /// [queries][tokens][dim]; each query may have its own number of tokens.
    var queryEmbeddings: [Matrix]?
    var k: Int?
    var filter: String?
    /// Bound to the filter's `?` as text: strings as they are, numbers as written, booleans as 1 and 0.
    var filterParams: [String]?
    var ncells: Int?
    var centroidScoreThreshold: Float?
    var ndocs: Int?
    /// Whether results carry their documents' metadata (default true).
    var includeMetadata: Bool?
    /// plaid (default), bm25 or hybrid; the last two need the queries as texts and an index that stores text.
    var mode: SearchMode?
    /// How hybrid fuses: relative (default, with `alpha`) or rrf.
    var fusion: Fusion?
    /// Whether results carry their documents' stored title and text (default false).
    var includeText: Bool?
    /// Whether results carry each query token's best match in the document (default false).
    var matches: Bool?

    init(json: JSONValue) throws {
        let f = try Fields(json, what: "a search request", allowed: ["queries", "query_embeddings", "k", "filter", "filter_params", "ncells",
                                                                     "centroid_score_threshold", "ndocs", "include_metadata", "mode",
                                                                     "fusion", "alpha", "include_text", "matches"])
        queries = try f.strings("queries")
        queryEmbeddings = try f.array("query_embeddings").map { try $0.enumerated().map { try $1.vectors(at: "query_embeddings[\($0)]") } }
        k = try f.integer("k")
        filter = try f.string("filter")
        filterParams = try f.array("filter_params").map {
            try $0.enumerated().map { i, value in
                guard let text = MetadataFilter.parameterText(value) else {
                    throw APIError.badRequest("field filter_params[\(i)] must be a string, number or boolean, not \(value.kind)")
                }
                return text
            }
        }
        ncells = try f.integer("ncells")
        centroidScoreThreshold = try f.number("centroid_score_threshold")
        if let threshold = centroidScoreThreshold, !(-2...2).contains(threshold) {
            // A number past Float's range arrives as infinity; a threshold there prunes everything.
            throw APIError.badRequest("field centroid_score_threshold must be between -2 and 2 (centroid scores are cosines), not \(threshold.isFinite ? "\(threshold)" : "a number that large")")
        }
        ndocs = try f.integer("ndocs")
        includeMetadata = try f.bool("include_metadata")
        includeText = try f.bool("include_text")
        matches = try f.bool("matches")
        mode = try f.string("mode").map { name in
            guard let mode = SearchMode(rawValue: name) else {
                throw APIError.badRequest("field mode must be \"plaid\", \"bm25\" or \"hybrid\", not \"\(visible(String(name.prefix(40))))\"")
            }
            return mode
        }
        let alpha = try f.number("alpha")
        if try f.value("fusion") != nil || alpha != nil {
            // Checked as the library checks it, the sentence naming the field.
            do {
                fusion = try Fusion(named: try f.string("fusion"), alpha: alpha.map(Double.init))
            } catch PlaidError.invalidArgument(let detail) {
                throw APIError.badRequest("field \(detail)")
            }
        }
        if fusion != nil && mode != .hybrid { throw APIError.badRequest("fields fusion and alpha go with \"mode\": \"hybrid\"") }
    }
}

/// One document of `POST /documents` or `POST /rerank`: text or vectors ([tokens][dim]).
struct DocumentInput: Sendable {
    var id: String
    var text: String?
    var embeddings: Matrix?
    var metadata: [String: MetadataValue]?

    init(json: JSONValue, at path: String) throws {
        let f = try Fields(json, at: path, what: path, allowed: ["id", "text", "embeddings", "metadata"])
        id = try f.required(try f.string("id"), "id")
        text = try f.string("text")
        embeddings = try f.vectors("embeddings")
        metadata = try f.value("metadata").map { value in
            guard case .object(let members) = value else { throw APIError.badRequest("field \(f.name("metadata")) must be an object, not \(value.kind)") }
            return Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value.metadataValue()) })
        }
    }
}

private func readDocuments(_ f: Fields) throws -> [DocumentInput] {
    try f.required(try f.array("documents"), "documents").enumerated().map { try DocumentInput(json: $1, at: "documents[\($0)]") }
}

/// `POST /documents`.
struct AddRequest: Sendable {
    var documents: [DocumentInput]
    var upsert: Bool

    init(json: JSONValue) throws {
        let f = try Fields(json, what: "an add request", allowed: ["documents", "upsert"])
        documents = try readDocuments(f)
        upsert = try f.bool("upsert") ?? false
    }
}

/// `DELETE /documents`.
struct DeleteRequest: Sendable {
    var ids: [String]

    init(json: JSONValue) throws {
        let f = try Fields(json, what: "a delete request", allowed: ["ids"])
        ids = try f.required(try f.strings("ids"), "ids")
    }
}

/// `POST /rerank`.
struct RerankRequest: Sendable {
    var query: String?
    /// [tokens][dim]
    var queryEmbeddings: Matrix?
    var documents: [DocumentInput]
    var k: Int?

    init(json: JSONValue) throws {
        let f = try Fields(json, what: "a rerank request", allowed: ["query", "query_embeddings", "documents", "k"])
        query = try f.string("query")
        queryEmbeddings = try f.vectors("query_embeddings")
        documents = try readDocuments(f)
        k = try f.integer("k")
    }
}

/// `POST /encode`.
struct EncodeRequest: Sendable {
    enum Mode: String, Sendable { case query, document }
    var texts: [String]
    var mode: Mode

    init(json: JSONValue) throws {
        let f = try Fields(json, what: "an encode request", allowed: ["texts", "mode"])
        texts = try f.required(try f.strings("texts"), "texts")
        let mode = try f.required(try f.string("mode"), "mode")
        guard let parsed = Mode(rawValue: mode) else {
            throw APIError.badRequest("field mode must be \"query\" or \"document\", not \"\(mode)\"")
        }
        self.mode = parsed
    }
}
