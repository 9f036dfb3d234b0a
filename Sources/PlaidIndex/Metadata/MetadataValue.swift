import Foundation
import PlaidCore

/// One metadata value of a document: what a JSON value becomes in the metadata store.
/// Nested objects and arrays are kept as JSON text, which SQLite's JSON functions read.
public enum MetadataValue: Equatable, Sendable, Codable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// An object or array, as compact JSON text.
    case json(String)
    case null

    /// The type a field takes from its values; null takes none.
    public var type: MetadataType? {
        switch self {
        case .string: return .string
        case .integer: return .integer
        case .float: return .float
        case .boolean: return .boolean
        case .json: return .json
        case .null: return nil
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let b = try? container.decode(Bool.self) { self = .boolean(b); return }
        if let i = try? container.decode(Int64.self) { self = .integer(i); return }
        if let d = try? container.decode(Double.self) {
            guard d.isFinite else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "a number that is not finite") }
            self = .float(d); return
        }
        if let s = try? container.decode(String.self) { self = .string(s); return }
        let nested = try container.decode(NestedJSON.self)
        self = .json(nested.text)
    }

    /// Encodes the value as the JSON it came from (an object or array as JSON, not as a string).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .integer(let i): try c.encode(i)
        case .float(let d): try c.encode(d)
        case .boolean(let b): try c.encode(b)
        case .json(let text): try c.encode(try NestedJSON.node(of: text))
        case .null: try c.encodeNil()
        }
    }

    /// The value as JSON (for `plaid metadata --json`).
    public var jsonObject: Any {
        switch self {
        case .string(let s): return s
        case .integer(let i): return i
        case .float(let d): return d
        case .boolean(let b): return b
        case .json(let text): return (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
        case .null: return NSNull()
        }
    }
}

/// The type of a metadata field, and the SQLite column type it is stored as.
public enum MetadataType: String, Codable, Sendable {
    case string, integer, float, boolean, json

    var columnType: String {
        switch self {
        case .string, .json: return "TEXT"
        case .integer, .boolean: return "INTEGER"
        case .float: return "REAL"
        }
    }

    /// The type a field keeps when it meets `other`: integers and floats widen to float (both are
    /// JSON numbers); any other change is a clash.
    func merged(with other: MetadataType) -> MetadataType? {
        if self == other { return self }
        if (self == .integer && other == .float) || (self == .float && other == .integer) { return .float }
        return nil
    }
}

/// A metadata field of an index: its type and the first document that gave it one (named when a
/// later document clashes).
public struct MetadataField: Codable, Equatable, Sendable {
    public var name: String
    public var type: MetadataType
    public var firstDocument: String
}

/// Any JSON value, re-encoded compactly with sorted keys: how nested objects and arrays are stored.
private struct NestedJSON: Decodable {
    let text: String

    fileprivate indirect enum Node: Decodable, Encodable {
        case object([String: Node]), array([Node]), string(String), number(Double), integer(Int64), boolean(Bool), null

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .boolean(b) }
            else if let i = try? c.decode(Int64.self) { self = .integer(i) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let a = try? c.decode([Node].self) { self = .array(a) }
            else { self = .object(try c.decode([String: Node].self)) }
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .object(let o): try c.encode(o)
            case .array(let a): try c.encode(a)
            case .string(let s): try c.encode(s)
            case .number(let d): try c.encode(d)
            case .integer(let i): try c.encode(i)
            case .boolean(let b): try c.encode(b)
            case .null: try c.encodeNil()
            }
        }
    }

    /// The tree of stored JSON text.
    fileprivate static func node(of text: String) throws -> Node {
        try JSONDecoder().decode(Node.self, from: Data(text.utf8))
    }

    init(from decoder: Decoder) throws {
        let node = try Node(from: decoder)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        text = String(decoding: try encoder.encode(node), as: UTF8.self)
    }
}

/// Documents' metadata for a batch: document id → field → value.
public typealias BatchMetadata = [String: [String: MetadataValue]]

public enum MetadataReader {
    /// Reads a JSONL file of objects with an `id` (or `_id`) and fields. Every line must parse and
    /// name a document of `batchIDs`; ids may not repeat. Errors name the file and line.
    /// Ids compare by their UTF-8 bytes (see `ByteExactID`).
    public static func read(path: String, batchIDs: [String]) throws -> BatchMetadata {
        let lines = try LineReader(path: path)
        let batch = Set(batchIDs.map(ByteExactID.init))
        var out: BatchMetadata = [:]
        while let line = try lines.nextLine() {
            let number = lines.lineNumber
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard var fields = try? JSONDecoder().decode([String: MetadataValue].self, from: Data(line)) else {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): expected one JSON object with \"id\" and the document's fields")
            }
            guard case .string(let id)? = fields.removeValue(forKey: "id") ?? fields.removeValue(forKey: "_id") else {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): expected a string \"id\" naming the document")
            }
            guard batch.contains(ByteExactID(id)) else {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): document '\(id)' is not in the batch; every id in the metadata file must be one of the documents added")
            }
            if let earlier = out.index(forKey: id) {
                guard out[earlier].key.utf8.elementsEqual(id.utf8) else {
                    throw PlaidError.invalidInput(file: path, detail: "line \(number): document '\(id)' differs from document '\(out[earlier].key)' of an earlier line only in Unicode normalization; one batch's metadata cannot tell them apart, so add them in separate batches")
                }
                throw PlaidError.invalidInput(file: path, detail: "line \(number): document '\(id)' already has metadata on an earlier line")
            }
            out[id] = fields
        }
        return out
    }

    /// The metadata of every line of a JSONL text collection (see `collectionFields`); a TSV
    /// collection has none.
    public static func fromCollection(path: String) throws -> BatchMetadata {
        let stripped = path.hasSuffix(".zst") ? String(path.dropLast(4)) : path
        guard stripped.hasSuffix(".jsonl") || stripped.hasSuffix(".json") else { return [:] }
        let lines = try LineReader(path: path)
        var out: BatchMetadata = [:]
        while let line = try lines.nextLine() {
            guard let id = try? JSONDecoder().decode(CollectionID.self, from: Data(line)).id else { continue }
            let fields = collectionFields(line: line)
            if !fields.isEmpty { out[id] = fields }
        }
        return out
    }

    private struct CollectionID: Decodable {
        let id: String
        enum Keys: String, CodingKey { case id, _id }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            id = try c.decodeIfPresent(String.self, forKey: ._id) ?? c.decode(String.self, forKey: .id)
        }
    }

    /// The metadata of one collection line: its `metadata` object and every top-level field
    /// besides the id, title and text.
    public static func collectionFields(line: UnsafeBufferPointer<UInt8>) -> [String: MetadataValue] {
        guard var fields = try? JSONDecoder().decode([String: MetadataValue].self, from: Data(line)) else { return [:] }
        for key in ["_id", "id", "title", "text"] { fields.removeValue(forKey: key) }
        if case .json(let nested)? = fields["metadata"],
           let inner = try? JSONDecoder().decode([String: MetadataValue].self, from: Data(nested.utf8)) {
            fields.removeValue(forKey: "metadata")
            fields.merge(inner) { _, inner in inner }
        }
        return fields
    }
}

/// The fields of an index and their types, grown batch by batch.
public enum MetadataSchema {
    /// The most fields an index may have: each is a column of every segment's SQLite table (at
    /// most 2,000 columns there), and every filter selects them all.
    public static let maxFields = 1_000

    /// `fields` extended by a batch's metadata, documents taken in `order`. A field whose type
    /// changes between documents is an error naming both documents (integers and floats widen to
    /// float). Refused, naming the document and the field: a reserved name (see
    /// `MetadataStore.reservation`), a name that differs from another field (or `id`) only in
    /// ASCII case (SQLite's names ignore it) or only in Unicode normalization (Swift's strings
    /// ignore it), more than `maxFields` fields, and metadata given under an id that is not the
    /// document's id byte for byte.
    public static func merge(_ fields: [MetadataField], with metadata: BatchMetadata, order: [String], source: String) throws -> [MetadataField] {
        var merged = fields
        var position = Dictionary(uniqueKeysWithValues: fields.enumerated().map { ($1.name, $0) })
        // Names as SQLite compares them, to the field spelled so: `id` is the built-in field.
        var folded = Dictionary(fields.map { (MetadataStore.folded($0.name), $0.name) }, uniquingKeysWith: { first, _ in first })
        folded[MetadataStore.folded("id")] = "id"
        for id in order {
            guard let entry = metadata.index(forKey: id) else { continue }
            let (key, values) = metadata[entry]
            guard key.utf8.elementsEqual(id.utf8) else {
                throw PlaidError.invalidInput(file: source, detail: "document '\(id)' has metadata under the id '\(key)', which differs from it in its bytes (another Unicode normalization); ids compare by their UTF-8 bytes, so give the metadata under the document's exact id, and add ids that differ only so in separate batches")
            }
            for name in values.keys.sorted() {
                guard let type = values[name]!.type else { continue }
                if let reason = MetadataStore.reservation(of: name) {
                    throw PlaidError.invalidInput(file: source, detail: "document '\(id)': the field name '\(name)' is reserved (\(reason)); rename the field")
                }
                if let p = position[name] {
                    guard merged[p].name.utf8.elementsEqual(name.utf8) else {
                        throw PlaidError.invalidInput(file: source, detail: "document '\(id)': the field name '\(name)' differs from field '\(merged[p].name)' only in Unicode normalization; use one spelling for the field")
                    }
                    guard let widened = merged[p].type.merged(with: type) else {
                        throw PlaidError.invalidInput(file: source, detail: "field '\(name)' is \(merged[p].type.rawValue) in document '\(merged[p].firstDocument)' but \(type.rawValue) in document '\(id)'; a field keeps one type")
                    }
                    merged[p].type = widened
                } else {
                    if let other = folded[MetadataStore.folded(name)] {
                        throw PlaidError.invalidInput(file: source, detail: "document '\(id)': the field name '\(name)' differs from field '\(other)' only in case, and SQLite's names ignore case; use one spelling for the field")
                    }
                    guard merged.count < maxFields else {
                        throw PlaidError.invalidInput(file: source, detail: "document '\(id)' adds the field '\(name)' but an index has at most \(maxFields) fields and this one has \(merged.count); keep fewer distinct fields (nested values can go in one JSON field)")
                    }
                    position[name] = merged.count
                    folded[MetadataStore.folded(name)] = name
                    merged.append(MetadataField(name: name, type: type, firstDocument: id))
                }
            }
        }
        return merged
    }
}
