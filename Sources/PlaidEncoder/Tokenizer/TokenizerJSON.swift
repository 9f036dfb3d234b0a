import Foundation
import PlaidCore

/// A parsed JSON value of `tokenizer.json`.
///
/// The file's components are tagged unions (`{"type": "BPE", ...}`) whose fields depend on the tag,
/// so a generic value read once and then interpreted per component gives clearer errors than a
/// tree of optional `Decodable` structs.
enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// A JSON object together with where it sits in the file, so that every error names the field.
struct JSONFields {
    let file: String
    /// Dotted path of this object inside the file, e.g. `model` or `normalizer.normalizers[1]`.
    let path: String
    let values: [String: JSONValue]

    init(file: String, path: String, value: JSONValue) throws {
        guard case let .object(values) = value else {
            throw PlaidError.invalidInput(file: file, detail: "field `\(path)` should be a JSON object")
        }
        self.file = file
        self.path = path
        self.values = values
    }

    func fieldPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func invalid(_ key: String, _ expectation: String) -> PlaidError {
        .invalidInput(file: file, detail: "field `\(fieldPath(key))` \(expectation)")
    }

    /// The value of `key`, with `nil` for a missing key or JSON null.
    func optional(_ key: String) -> JSONValue? {
        guard let value = values[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws -> String {
        guard case let .string(value)? = values[key] else { throw invalid(key, "should be a string") }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = optional(key) else { return nil }
        guard case let .string(string) = value else { throw invalid(key, "should be a string or null") }
        return string
    }

    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let value = optional(key) else { return defaultValue }
        guard case let .bool(flag) = value else { throw invalid(key, "should be true or false") }
        return flag
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = optional(key) else { return nil }
        guard case let .bool(flag) = value else { throw invalid(key, "should be true, false or null") }
        return flag
    }

    func int(_ key: String) throws -> Int {
        guard case let .number(number)? = values[key], let value = Int(exactly: number) else {
            throw invalid(key, "should be an integer")
        }
        return value
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard case let .array(items)? = values[key] else { throw invalid(key, "should be an array") }
        return items
    }

    func object(_ key: String) throws -> JSONFields {
        guard let value = values[key] else { throw invalid(key, "is missing") }
        return try JSONFields(file: file, path: fieldPath(key), value: value)
    }

    /// The elements of the array `key` as objects, each with its indexed path.
    func objects(_ key: String) throws -> [JSONFields] {
        try array(key).enumerated().map { index, item in
            try JSONFields(file: file, path: "\(fieldPath(key))[\(index)]", value: item)
        }
    }

    /// The component's `type` tag.
    func type() throws -> String {
        try string("type")
    }

    func unsupportedType(_ type: String, supported: [String]) -> PlaidError {
        .invalidInput(file: file, detail: "field `\(fieldPath("type"))` is \"\(type)\", which plaid does not "
            + "implement (supported: \(supported.joined(separator: ", ")))")
    }
}
