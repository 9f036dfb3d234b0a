import PlaidCore

/// The single-sequence template of a `tokenizer.json` post-processor: special token ids before
/// and after the text's ids (`[CLS] $A [SEP]`, `<s> $A </s>`).
struct SingleSequenceTemplate: Sendable, Equatable {
    var prefix: [Int] = []
    var suffix: [Int] = []

    var specialTokenCount: Int { prefix.count + suffix.count }

    /// Reads the `post_processor` field; a missing one adds nothing.
    init(_ fields: JSONFields?, tokenID: (String) -> Int?) throws {
        guard let fields else { return }
        let type = try fields.type()
        switch type {
        case "TemplateProcessing":
            try readTemplate(fields, tokenID: tokenID)
        case "BertProcessing", "RobertaProcessing":
            prefix = [try Self.idOfPair(fields, "cls")]
            suffix = [try Self.idOfPair(fields, "sep")]
        case "ByteLevel":
            break  // only adjusts offsets
        case "Sequence":
            for step in try fields.objects("processors") {
                let inner = try SingleSequenceTemplate(step, tokenID: tokenID)
                if inner.specialTokenCount > 0 {
                    guard specialTokenCount == 0 else {
                        throw step.invalid("type", "is a second processor that adds special tokens, which plaid does not combine")
                    }
                    self = inner
                }
            }
        default:
            throw fields.unsupportedType(type, supported: [
                "TemplateProcessing", "BertProcessing", "RobertaProcessing", "ByteLevel", "Sequence",
            ])
        }
    }

    /// `"cls": ["[CLS]", 101]`.
    private static func idOfPair(_ fields: JSONFields, _ key: String) throws -> Int {
        guard case let .array(pair)? = fields.values[key], pair.count == 2,
              case let .number(number) = pair[1], let id = Int(exactly: number) else {
            throw fields.invalid(key, "should be a [token, id] pair")
        }
        return id
    }

    private mutating func readTemplate(_ fields: JSONFields, tokenID: (String) -> Int?) throws {
        let specialTokens = try fields.object("special_tokens")
        var seenSequence = false
        for (index, item) in try fields.array("single").enumerated() {
            let itemPath = "single[\(index)]"
            let element = try JSONFields(file: fields.file, path: fields.fieldPath(itemPath), value: item)
            if element.values["Sequence"] != nil {
                seenSequence = true
                continue
            }
            let name = try element.object("SpecialToken").string("id")
            // The template names a special token; `special_tokens` lists the ids it stands for.
            let ids: [Int]
            if let entry = specialTokens.optional(name) {
                let entryFields = try JSONFields(file: fields.file, path: specialTokens.fieldPath(name), value: entry)
                ids = try entryFields.array("ids").map { value -> Int in
                    guard case let .number(number) = value, let id = Int(exactly: number) else {
                        throw entryFields.invalid("ids", "should hold integer ids")
                    }
                    return id
                }
            } else if let id = tokenID(name) {
                ids = [id]
            } else {
                throw fields.invalid(itemPath, "names the special token \"\(name)\", which is neither in "
                    + "`\(specialTokens.path)` nor in the vocabulary")
            }
            if seenSequence { suffix += ids } else { prefix += ids }
        }
        guard seenSequence else { throw fields.invalid("single", "has no `$A` sequence") }
    }
}
