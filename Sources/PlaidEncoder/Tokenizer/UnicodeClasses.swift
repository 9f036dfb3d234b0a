/// The character classes that HF `tokenizers` tests, each with the exact definition it uses.
///
/// ASCII takes a table lookup; anything else asks the standard library's Unicode properties.
enum UnicodeClasses {
    /// Rust's `char::is_whitespace` (the White_Space property), which is also what Oniguruma's `\s`
    /// matches in the byte-level split regex: U+0009–000D, U+0085 and the Zs, Zl, Zp categories.
    @inline(__always)
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return value == 0x20 || (value >= 0x09 && value <= 0x0D) }
        return scalar.properties.isWhitespace
    }

    /// The classes of the GPT-2 split regex (`\p{L}`, `\p{N}`, `\s`, anything else), as
    /// Oniguruma in HF `tokenizers` sees them.
    enum ByteLevelClass: UInt8 { case other, letter, number, whitespace }

    @inline(__always)
    static func byteLevelClass(_ scalar: Unicode.Scalar) -> ByteLevelClass {
        let value = scalar.value
        if value < 0x80 {
            if (value | 0x20) >= 0x61 && (value | 0x20) <= 0x7A { return .letter }
            if value >= 0x30 && value <= 0x39 { return .number }
            if value == 0x20 || (value >= 0x09 && value <= 0x0D) { return .whitespace }
            return .other
        }
        return ByteLevelClass(rawValue: byteLevelTable.lookup(value)) ?? .other
    }

    /// Regex `\w` as Rust's `regex` crate defines it (used by added tokens' `single_word`):
    /// Alphabetic, marks, decimal digits, connector punctuation and the joiners.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (value | 0x20) >= 0x61 && (value | 0x20) <= 0x7A || (value >= 0x30 && value <= 0x39) || value == 0x5F
        }
        if value == 0x200C || value == 0x200D { return true }
        let properties = scalar.properties
        if properties.isAlphabetic { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// BERT's "control" test (after `clean_text`): the Other categories Cc, Cf, Co, Cs except tab,
    /// newline and carriage return, in the Unicode version HF uses. Unassigned code points are kept.
    @inline(__always)
    static func isBertControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return (value < 0x20 && value != 0x09 && value != 0x0A && value != 0x0D) || value == 0x7F }
        return bertTable.lookup(value) == BertClass.control
    }

    /// BERT's punctuation: every ASCII non-alphanumeric printable character (so `$`, `+`, `^`, `|`
    /// count although Unicode calls them symbols) and the Unicode P* categories, in the Unicode
    /// version HF uses.
    @inline(__always)
    static func isBertPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (value >= 33 && value <= 47) || (value >= 58 && value <= 64)
                || (value >= 91 && value <= 96) || (value >= 123 && value <= 126)
        }
        return bertTable.lookup(value) == BertClass.punctuation
    }

    private enum BertClass {
        static let control: UInt8 = 1
        static let punctuation: UInt8 = 2
        static let nonspacingMark: UInt8 = 3
        static let otherCombiningMark: UInt8 = 4
    }

    /// HF `tokenizers` takes these classes from older Unicode tables than the Swift runtime has
    /// (BERT's from about Unicode 8), so newer punctuation would split words HF keeps whole, and
    /// marks that were once punctuation would vanish with the accents. The
    /// generated tables in UnicodeTables.swift record HF's own answer for every code point.
    private static let bertTable = CodePointClassTable(bertClassRanges, classes: [
        "c": BertClass.control, "p": BertClass.punctuation, "m": BertClass.nonspacingMark,
        "k": BertClass.otherCombiningMark,
    ])
    private static let byteLevelTable = CodePointClassTable(byteLevelClassRanges, classes: [
        "L": ByteLevelClass.letter.rawValue, "N": ByteLevelClass.number.rawValue, "S": ByteLevelClass.whitespace.rawValue,
    ])

    /// The CJK Unified Ideographs blocks that BERT surrounds with spaces (`handle_chinese_chars`).
    /// HF starts the Extension E range at U+2B920, not U+2B820 as Google's BERT does; parity follows HF.
    @inline(__always)
    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Mn, as BERT's `strip_accents` sees it.
    @inline(__always)
    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value >= 0x300 && bertTable.lookup(scalar.value) == BertClass.nonspacingMark
    }

    /// Any combining mark (Mn, Mc, Me), as the `StripAccents` normalizer sees it.
    @inline(__always)
    static func isCombiningMark(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.value >= 0x300 else { return false }
        let characterClass = bertTable.lookup(scalar.value)
        return characterClass == BertClass.nonspacingMark || characterClass == BertClass.otherCombiningMark
    }
}

/// Sorted, disjoint code point ranges with a class each; everything else is class 0.
struct CodePointClassTable: Sendable {
    private var firsts: [UInt32] = []
    private var lasts: [UInt32] = []
    private var classes: [UInt8] = []

    /// Parses lines of "FIRST LAST CLASS" (hex code points, a one-letter class).
    init(_ text: String, classes classByLetter: [Character: UInt8]) {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let first = UInt32(fields[0], radix: 16), let last = UInt32(fields[1], radix: 16),
                  let letter = fields[2].first, let characterClass = classByLetter[letter] else {
                preconditionFailure("malformed generated Unicode table line: \(line)")
            }
            firsts.append(first)
            lasts.append(last)
            classes.append(characterClass)
        }
    }

    /// O(log ranges).
    @inline(__always)
    func lookup(_ value: UInt32) -> UInt8 {
        var low = 0
        var high = firsts.count
        while low < high {
            let middle = (low + high) / 2
            if firsts[middle] <= value { low = middle + 1 } else { high = middle }
        }
        // `low - 1` is the last range that starts at or before `value`.
        guard low > 0, value <= lasts[low - 1] else { return 0 }
        return classes[low - 1]
    }
}
