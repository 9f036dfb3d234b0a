import Foundation
import PlaidCore

/// One metadata value of a document: what a JSON value becomes in the metadata store.
/// Nested objects and arrays are kept as JSON text, which SQLite's JSON functions read.
public enum MetadataValue: Equatable, Sendable, Encodable {
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

    /// The value a metadata file or a collection's line gives: a number is an integer when it is
    /// a whole number that fits 64 bits (`2001.0` too, as Foundation's JSONDecoder read these
    /// files), a float otherwise; an object or array becomes compact JSON text with sorted keys.
    init(_ json: JSONValue) throws {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .boolean(b)
        case .number(let d, let integer): self = wholeNumber(d, integer).map { .integer($0) } ?? .float(d)
        case .string(let s): self = .string(s)
        case .numbers, .rows, .array, .object: self = .json(try NestedJSON(json).text)
        }
    }

    /// Encodes the value as the JSON it came from (an object or array as JSON, not as a string).
    public func encode(to encoder: Encoder) throws {
        let value: NestedJSON
        switch self {
        case .string(let s): value = .string(s)
        case .integer(let i): value = .integer(i)
        case .float(let d): value = .number(d)
        case .boolean(let b): value = .boolean(b)
        case .json(let text): value = NestedJSON(try JSONReader.parse(Array(text.utf8)))
        case .null: value = .null
        }
        try value.encode(to: encoder)
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

/// A number as an integer, as Foundation's JSONDecoder read metadata files: an integer literal
/// that fits 64 bits is that integer; any other number is when its double is a whole number of
/// Int64's range above -2^63 (longer literals that round to -2^63 are below it).
private func wholeNumber(_ value: Double, _ integer: Int64?) -> Int64? {
    integer ?? (value > -0x1p63 ? Int64(exactly: value) : nil)
}

/// A nested object or array as it is stored and answered: numbers as `MetadataValue` reads them,
/// written compactly with sorted keys.
private indirect enum NestedJSON: Encodable {
    case object([String: NestedJSON]), array([NestedJSON]), string(String), number(Double), integer(Int64), boolean(Bool), null

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .boolean(b)
        case .number(let d, let integer): self = wholeNumber(d, integer).map { .integer($0) } ?? .number(d)
        case .string(let s): self = .string(s)
        case .numbers(let numbers): self = .array(numbers.map { .init(.number($0, integer: Int64(exactly: $0))) })
        case .rows(let flat, let width):
            self = .array(stride(from: 0, to: flat.count, by: width).map { .init(.numbers(Array(flat[$0..<($0 + width)]))) })
        case .array(let values): self = .array(values.map(NestedJSON.init))
        case .object(let members): self = .object(Dictionary(uniqueKeysWithValues: members.map { ($0.key, NestedJSON($0.value)) }))
        }
    }

    /// Compact JSON with sorted keys.
    var text: String {
        get throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        }
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
            var fields: [String: MetadataValue]
            do {
                fields = try values(of: JSONReader.parseObject(line))
            } catch let error as JSONError {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): expected one JSON object with \"id\" and the document's fields; \(error.lineDescription)")
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
        // The fields' types and names are checked here too, so that their errors name this file
        // rather than the embeddings it goes with.
        _ = try MetadataSchema.merge([], with: out, order: batchIDs, source: path)
        return out
    }

    /// Metadata given as one JSON array aligned with `ids`: per document an object of its fields,
    /// or null for none (what a library caller passes beside a batch of vectors). Errors name
    /// `source` and the element.
    public static func read(jsonArray text: [UInt8], ids: [String], source: String) throws -> BatchMetadata {
        let parsed: JSONValue
        do { parsed = try JSONReader.parse(text) } catch let error as JSONError {
            throw PlaidError.invalidInput(file: source, detail: "expected a JSON array of one object (or null) per document; \(error.lineDescription)")
        }
        guard case .array(let elements) = parsed else {
            throw PlaidError.invalidInput(file: source, detail: "expected a JSON array of one object (or null) per document, found \(parsed.kind)")
        }
        guard elements.count == ids.count else {
            throw PlaidError.invalidInput(file: source, detail: "has \(elements.count) entries for \(ids.count) documents; give one object (or null) per document")
        }
        var out: BatchMetadata = [:]
        for (i, element) in elements.enumerated() {
            switch element {
            case .null: continue
            case .object(let members): out[ids[i]] = try values(of: members)
            default:
                throw PlaidError.invalidInput(file: source, detail: "entry \(i) (document '\(ids[i])') is \(element.kind); expected an object of fields, or null")
            }
        }
        return out
    }

    /// The metadata of every line of a JSONL text collection (see `collectionFields`); a TSV
    /// collection has none. A line whose id is not a string is passed over.
    public static func fromCollection(path: String) throws -> BatchMetadata {
        let stripped = path.hasSuffix(".zst") ? String(path.dropLast(4)) : path
        guard stripped.hasSuffix(".jsonl") || stripped.hasSuffix(".json") else { return [:] }
        let lines = try LineReader(path: path)
        var out: BatchMetadata = [:]
        var order: [String] = []
        while let line = try lines.nextLine() {
            guard let members = try? JSONReader.parseObject(line), let id = collectionID(members),
                  let fields = try? collectionFields(members) else { continue }
            if !fields.isEmpty, out.updateValue(fields, forKey: id) == nil { order.append(id) }
        }
        // Checked here, naming the collection: later the documents come from encoded embeddings
        // in a temporary folder, whose name would mean nothing to the user.
        _ = try MetadataSchema.merge([], with: out, order: order, source: path)
        return out
    }

    /// A collection line's `_id` (or, when it has none or null, its `id`) when it is a string.
    private static func collectionID(_ members: [(key: String, value: JSONValue)]) -> String? {
        func member(_ name: String) -> JSONValue? { members.first { $0.key == name }?.value }
        switch member("_id") {
        case .string(let id)?: return id
        case nil, .null?: break
        default: return nil
        }
        guard case .string(let id)? = member("id") else { return nil }
        return id
    }

    /// The metadata of one collection line: its `metadata` object and every top-level field
    /// besides the id, title and text (a `metadata` field that is not an object is a field).
    public static func collectionFields(line: UnsafeBufferPointer<UInt8>) -> [String: MetadataValue] {
        guard let members = try? JSONReader.parseObject(line), let fields = try? collectionFields(members) else { return [:] }
        return fields
    }

    private static func collectionFields(_ members: [(key: String, value: JSONValue)]) throws -> [String: MetadataValue] {
        var fields = try values(of: members.filter { !["_id", "id", "title", "text"].contains($0.key) })
        if let nested = members.first(where: { $0.key == "metadata" }), case .object(let inner) = nested.value {
            fields.removeValue(forKey: "metadata")
            fields.merge(try values(of: inner)) { _, inner in inner }
        }
        return fields
    }

    /// An object's members as metadata values (its names are unique: the reader refuses others).
    private static func values(of members: [(key: String, value: JSONValue)]) throws -> [String: MetadataValue] {
        Dictionary(uniqueKeysWithValues: try members.map { ($0.key, try MetadataValue($0.value)) })
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
        var schema = Growing(fields, source: source)
        for id in order {
            guard let entry = metadata.index(forKey: id) else { continue }
            let (key, values) = metadata[entry]
            guard key.utf8.elementsEqual(id.utf8) else {
                throw PlaidError.invalidInput(file: source, detail: "document '\(id)' has metadata under the id '\(key)', which differs from it in its bytes (another Unicode normalization); ids compare by their UTF-8 bytes, so give the metadata under the document's exact id, and add ids that differ only so in separate batches")
            }
            for name in values.keys.sorted() {
                guard let type = values[name]!.type else { continue }
                try schema.add(name, type: type, document: id)
            }
        }
        return schema.fields
    }

    /// `fields` extended by the fields of a segment (`segmentFields`, in their order), with the
    /// same checks as a batch's metadata, each field's first document standing for the segment's.
    public static func merge(_ fields: [MetadataField], withFieldsOf segmentFields: [MetadataField], source: String) throws -> [MetadataField] {
        var schema = Growing(fields, source: source)
        for field in segmentFields { try schema.add(field.name, type: field.type, document: field.firstDocument) }
        return schema.fields
    }

    /// Fields being extended one value at a time.
    private struct Growing {
        private(set) var fields: [MetadataField]
        let source: String
        private var position: [String: Int]
        /// Names as SQLite compares them, to the field spelled so: `id` is the built-in field.
        private var folded: [String: String]

        init(_ fields: [MetadataField], source: String) {
            self.fields = fields
            self.source = source
            position = Dictionary(uniqueKeysWithValues: fields.enumerated().map { ($1.name, $0) })
            folded = Dictionary(fields.map { (MetadataStore.folded($0.name), $0.name) }, uniquingKeysWith: { first, _ in first })
            folded[MetadataStore.folded("id")] = "id"
        }

        mutating func add(_ name: String, type: MetadataType, document id: String) throws {
            if let reason = MetadataStore.reservation(of: name) {
                let shown = name.replacingOccurrences(of: "\u{0}", with: "\\u0000")
                throw PlaidError.invalidInput(file: source, detail: "document '\(id)': the field name '\(shown)' is reserved (\(reason)); rename the field")
            }
            if let p = position[name] {
                guard fields[p].name.utf8.elementsEqual(name.utf8) else {
                    throw PlaidError.invalidInput(file: source, detail: "document '\(id)': the field name '\(name)' differs from field '\(fields[p].name)' only in Unicode normalization; use one spelling for the field")
                }
                guard let widened = fields[p].type.merged(with: type) else {
                    throw PlaidError.invalidInput(file: source, detail: "field '\(name)' is \(fields[p].type.rawValue) in document '\(fields[p].firstDocument)' but \(type.rawValue) in document '\(id)'; a field keeps one type")
                }
                fields[p].type = widened
            } else {
                if let other = folded[MetadataStore.folded(name)] {
                    throw PlaidError.invalidInput(file: source, detail: "document '\(id)': the field name '\(name)' differs from field '\(other)' only in case, and SQLite's names ignore case; use one spelling for the field")
                }
                guard fields.count < maxFields else {
                    throw PlaidError.invalidInput(file: source, detail: "document '\(id)' adds the field '\(name)' but an index has at most \(maxFields) fields and this one has \(fields.count); keep fewer distinct fields (nested values can go in one JSON field)")
                }
                position[name] = fields.count
                folded[MetadataStore.folded(name)] = name
                fields.append(MetadataField(name: name, type: type, firstDocument: id))
            }
        }
    }
}
