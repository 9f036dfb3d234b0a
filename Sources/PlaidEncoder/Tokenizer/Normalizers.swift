import Foundation
import PlaidCore

/// A `tokenizer.json` normalizer: rewrites one piece of text (the text between added tokens).
protocol TextNormalizer: Sendable {
    func normalize(_ text: inout [Unicode.Scalar])
}

/// Reads the `normalizer` field (or one element of a `Sequence`).
func makeNormalizer(_ fields: JSONFields) throws -> TextNormalizer {
    let type = try fields.type()
    switch type {
    case "BertNormalizer":
        let lowercase = try fields.bool("lowercase", default: true)
        return BertNormalizer(
            cleanText: try fields.bool("clean_text", default: true),
            handleChineseCharacters: try fields.bool("handle_chinese_chars", default: true),
            // A null `strip_accents` means "strip accents exactly when lowercasing".
            stripAccents: try fields.optionalBool("strip_accents") ?? lowercase,
            lowercase: lowercase)
    case "NFC": return UnicodeNormalization(form: .nfc)
    case "NFD": return UnicodeNormalization(form: .nfd)
    case "NFKC": return UnicodeNormalization(form: .nfkc)
    case "NFKD": return UnicodeNormalization(form: .nfkd)
    case "Lowercase": return LowercaseNormalizer()
    case "StripAccents": return StripAccentsNormalizer()
    case "Strip":
        return StripNormalizer(left: try fields.bool("strip_left", default: true),
                               right: try fields.bool("strip_right", default: true))
    case "Replace":
        let pattern = try fields.object("pattern")
        guard let literal = try pattern.optionalString("String") else {
            throw pattern.invalid("String", "is missing: only literal string patterns are implemented, not `Regex`")
        }
        return ReplaceNormalizer(pattern: Array(literal.unicodeScalars),
                                 replacement: Array(try fields.string("content").unicodeScalars))
    case "Prepend":
        return PrependNormalizer(prefix: Array(try fields.string("prepend").unicodeScalars))
    case "Sequence":
        return NormalizerSequence(steps: try fields.objects("normalizers").map(makeNormalizer))
    default:
        throw fields.unsupportedType(type, supported: [
            "BertNormalizer", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Strip", "Replace",
            "Prepend", "Sequence",
        ])
    }
}

struct NormalizerSequence: TextNormalizer {
    let steps: [TextNormalizer]

    func normalize(_ text: inout [Unicode.Scalar]) {
        for step in steps { step.normalize(&text) }
    }
}

/// BERT's normalizer, in HF's order: clean, pad CJK ideographs, strip accents, lowercase.
struct BertNormalizer: TextNormalizer {
    let cleanText: Bool
    let handleChineseCharacters: Bool
    let stripAccents: Bool
    let lowercase: Bool

    func normalize(_ text: inout [Unicode.Scalar]) {
        if cleanText || handleChineseCharacters {
            var cleaned: [Unicode.Scalar] = []
            cleaned.reserveCapacity(text.count + 8)
            for scalar in text {
                if cleanText {
                    if scalar.value == 0 || scalar.value == 0xFFFD || UnicodeClasses.isBertControl(scalar) { continue }
                    if UnicodeClasses.isWhitespace(scalar) {
                        cleaned.append(" ")
                        continue
                    }
                }
                if handleChineseCharacters && UnicodeClasses.isChineseCharacter(scalar) {
                    cleaned.append(" ")
                    cleaned.append(scalar)
                    cleaned.append(" ")
                } else {
                    cleaned.append(scalar)
                }
            }
            text = cleaned
        }
        if stripAccents {
            UnicodeNormalization(form: .nfd).normalize(&text)
            // Only Mn here, unlike the StripAccents normalizer, which removes every combining mark.
            text.removeAll(where: UnicodeClasses.isNonspacingMark)
        }
        if lowercase { LowercaseNormalizer().normalize(&text) }
    }
}

/// The four Unicode normalization forms, through Foundation (which implements them natively).
struct UnicodeNormalization: TextNormalizer {
    enum Form { case nfc, nfd, nfkc, nfkd }
    let form: Form

    func normalize(_ text: inout [Unicode.Scalar]) {
        // ASCII is invariant under every form; most text is ASCII, so skip building a String.
        // Below U+0300 nothing composes further, so NFC can also skip Latin-1 text.
        let invariantBelow: UInt32 = form == .nfc ? 0x300 : 0x80
        guard text.contains(where: { $0.value >= invariantBelow }) else { return }
        var string = String()
        string.unicodeScalars.append(contentsOf: text)
        let normalized: String
        switch form {
        case .nfc: normalized = string.precomposedStringWithCanonicalMapping
        case .nfd: normalized = string.decomposedStringWithCanonicalMapping
        case .nfkc: normalized = string.precomposedStringWithCompatibilityMapping
        case .nfkd: normalized = string.decomposedStringWithCompatibilityMapping
        }
        text = Array(normalized.unicodeScalars)
    }
}

/// Full (unconditional) lowercase mapping per character, like Rust's `char::to_lowercase`:
/// `İ` becomes `i̇`, and a final `Σ` becomes `σ`, not `ς`.
struct LowercaseNormalizer: TextNormalizer {
    func normalize(_ text: inout [Unicode.Scalar]) {
        var firstChange = 0
        while firstChange < text.count {
            let value = text[firstChange].value
            if value >= 0x80 || (value >= 0x41 && value <= 0x5A) { break }
            firstChange += 1
        }
        guard firstChange < text.count else { return }
        var lowered = Array(text[..<firstChange])
        lowered.reserveCapacity(text.count)
        for scalar in text[firstChange...] {
            let value = scalar.value
            if value < 0x80 {
                lowered.append(value >= 0x41 && value <= 0x5A ? Unicode.Scalar(UInt8(value + 0x20)) : scalar)
            } else if scalar.properties.changesWhenLowercased {
                lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                lowered.append(scalar)
            }
        }
        text = lowered
    }
}

/// Removes combining marks (M*); meaningful after NFD, as in HF.
struct StripAccentsNormalizer: TextNormalizer {
    func normalize(_ text: inout [Unicode.Scalar]) {
        text.removeAll(where: UnicodeClasses.isCombiningMark)
    }
}

struct StripNormalizer: TextNormalizer {
    let left: Bool
    let right: Bool

    func normalize(_ text: inout [Unicode.Scalar]) {
        if right {
            while let last = text.last, UnicodeClasses.isWhitespace(last) { text.removeLast() }
        }
        if left {
            let start = text.firstIndex(where: { !UnicodeClasses.isWhitespace($0) }) ?? text.endIndex
            text.removeFirst(start)
        }
    }
}

/// Replaces every non-overlapping occurrence of a literal, left to right.
struct ReplaceNormalizer: TextNormalizer {
    let pattern: [Unicode.Scalar]
    let replacement: [Unicode.Scalar]

    func normalize(_ text: inout [Unicode.Scalar]) {
        guard !pattern.isEmpty, text.count >= pattern.count else { return }
        var replaced: [Unicode.Scalar] = []
        replaced.reserveCapacity(text.count)
        var index = 0
        while index < text.count {
            if index + pattern.count <= text.count && text[index..<(index + pattern.count)].elementsEqual(pattern) {
                replaced.append(contentsOf: replacement)
                index += pattern.count
            } else {
                replaced.append(text[index])
                index += 1
            }
        }
        text = replaced
    }
}

/// Prepends a prefix to non-empty text (SentencePiece-style `▁`).
struct PrependNormalizer: TextNormalizer {
    let prefix: [Unicode.Scalar]

    func normalize(_ text: inout [Unicode.Scalar]) {
        if !text.isEmpty { text.insert(contentsOf: prefix, at: 0) }
    }
}
