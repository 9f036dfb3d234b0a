/// A JSON value as `JSONReader` reads it. With `JSONReader.Options.packsNumbers`, an array whose
/// elements are all numbers is kept packed (`numbers`), and an array of equally long arrays of
/// numbers as one run (`rows`): request bodies are mostly vectors, tens of thousands of numbers
/// each, which then cost their numbers and nothing per element or row.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// `integer` when the literal has no fraction or exponent and fits 64 bits.
    case number(Double, integer: Int64?)
    case string(String)
    case numbers([Double])
    /// An array of arrays that each hold `width` (at least 1) numbers, packed into one run, row
    /// after row.
    case rows(flat: [Double], width: Int)
    case array([JSONValue])
    /// Members in text order; a name appears once.
    case object([(key: String, value: JSONValue)])

    /// What a person would call this kind of value, for error messages.
    public var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .numbers, .rows, .array: return "an array"
        case .object: return "an object"
        }
    }
}
