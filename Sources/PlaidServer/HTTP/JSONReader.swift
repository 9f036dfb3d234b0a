import PlaidCore

// Request bodies are read by PlaidCore's JSON reader under the server's options; this file phrases
// its errors as the sentences, and statuses, a client gets.

extension JSONReader {
    /// What a request body may cost: nesting, and the memory its values may take as a multiple of
    /// its size, so that memory never grows past a small multiple of `--max-body-mib`. Vectors
    /// are kept packed.
    static let requestBodyOptions = Options(maximumDepth: 64, memoryMultiple: 6, packsNumbers: true)

    /// A request body's one value. Not JSON: a 400 naming the place; values that would take too
    /// much memory: a 413.
    static func parseRequestBody(_ body: some Collection<UInt8>) throws -> JSONValue {
        do {
            return try parse(body, options: requestBodyOptions)
        } catch let error as JSONError {
            throw APIError(requestBody: error)
        }
    }
}

extension APIError {
    /// The answer to a body the JSON reader refused.
    init(requestBody error: JSONError) {
        let found: String
        switch error.found {
        case .end: found = "the end of the body"
        case .byteOrderMark: found = "a byte order mark (EF BB BF); send the body without one"
        case .invalidUTF8(let byte): found = JSONError.Found.describe(byte)
        case .text(let text, _): found = "'\(visible(text.unicodeScalars.first.map { String($0) } ?? ""))'"
        }
        let place = "at line \(error.line), column \(error.column), found \(found)"
        switch error.reason {
        case .expected(let what): self = .badRequest("the body is not valid JSON: expected \(what) \(place)")
        case .trailingContent: self = .badRequest("the body is not valid JSON: expected the end of the body \(place)")
        case .numberOutOfRange(let literal): self = .badRequest("the number \(literal) in the body is out of range; send finite numbers")
        case .duplicateField(let name): self = .badRequest("the body names the field \"\(name)\" twice in one object")
        case .tooLarge(let multiple):
            self = .tooLarge("the body's JSON values would take more than \(multiple) times its size in memory (arrays of a few numbers each, of varying lengths); send vectors as rows of equal length")
        }
    }
}
