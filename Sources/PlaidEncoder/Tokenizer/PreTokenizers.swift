import PlaidCore

/// A run of scalars: a piece of normalized text, or a word cut from it.
typealias ScalarSlice = ArraySlice<Unicode.Scalar>

/// A `tokenizer.json` pre-tokenizer: cuts a piece of normalized text into the words that the model
/// tokenizes one by one.
protocol PreTokenizer: Sendable {
    /// Appends the words of `piece` to `words`.
    func split(_ piece: ScalarSlice, into words: inout [ScalarSlice])
}

/// Reads the `pre_tokenizer` field (or one element of a `Sequence`).
func makePreTokenizer(_ fields: JSONFields) throws -> PreTokenizer {
    let type = try fields.type()
    switch type {
    case "BertPreTokenizer":
        return BertPreTokenizer()
    case "WhitespaceSplit":
        return WhitespaceSplitPreTokenizer()
    case "ByteLevel":
        return ByteLevelPreTokenizer(addPrefixSpace: try fields.bool("add_prefix_space", default: true),
                                     useRegex: try fields.bool("use_regex", default: true))
    case "Sequence":
        return PreTokenizerSequence(steps: try fields.objects("pretokenizers").map(makePreTokenizer))
    default:
        throw fields.unsupportedType(type, supported: ["BertPreTokenizer", "WhitespaceSplit", "ByteLevel", "Sequence"])
    }
}

struct PreTokenizerSequence: PreTokenizer {
    let steps: [PreTokenizer]

    func split(_ piece: ScalarSlice, into words: inout [ScalarSlice]) {
        var current: [ScalarSlice] = [piece]
        var next: [ScalarSlice] = []
        for step in steps {
            next.removeAll(keepingCapacity: true)
            for word in current { step.split(word, into: &next) }
            swap(&current, &next)
        }
        words.append(contentsOf: current)
    }
}

/// Splits on whitespace (dropped).
struct WhitespaceSplitPreTokenizer: PreTokenizer {
    func split(_ piece: ScalarSlice, into words: inout [ScalarSlice]) {
        var wordStart: Int? = nil
        for index in piece.indices {
            if UnicodeClasses.isWhitespace(piece[index]) {
                if let start = wordStart { words.append(piece[start..<index]) }
                wordStart = nil
            } else if wordStart == nil {
                wordStart = index
            }
        }
        if let start = wordStart { words.append(piece[start..<piece.endIndex]) }
    }
}

/// BERT's pre-tokenizer: whitespace separates words and is dropped; every punctuation character
/// is a word of its own.
struct BertPreTokenizer: PreTokenizer {
    func split(_ piece: ScalarSlice, into words: inout [ScalarSlice]) {
        var wordStart: Int? = nil
        for index in piece.indices {
            let scalar = piece[index]
            let isWhitespace = UnicodeClasses.isWhitespace(scalar)
            if isWhitespace || UnicodeClasses.isBertPunctuation(scalar) {
                if let start = wordStart { words.append(piece[start..<index]) }
                wordStart = nil
                if !isWhitespace { words.append(piece[index...index]) }
            } else if wordStart == nil {
                wordStart = index
            }
        }
        if let start = wordStart { words.append(piece[start..<piece.endIndex]) }
    }
}

/// GPT-2's byte-level pre-tokenizer: optionally a leading space, the GPT-2 split regex, then each
/// word's UTF-8 bytes spelled in the printable byte alphabet that the BPE vocabulary uses.
struct ByteLevelPreTokenizer: PreTokenizer {
    let addPrefixSpace: Bool
    let useRegex: Bool

    func split(_ piece: ScalarSlice, into words: inout [ScalarSlice]) {
        var text = piece
        if addPrefixSpace && text.first != " " {
            text = ([" "] + piece)[...]
        }
        if useRegex {
            var start = text.startIndex
            while start < text.endIndex {
                let end = GPT2Split.matchEnd(in: text, from: start)
                words.append(ByteLevelAlphabet.spell(text[start..<end])[...])
                start = end
            }
        } else if !text.isEmpty {
            words.append(ByteLevelAlphabet.spell(text)[...])
        }
    }
}

/// A hand-written matcher for GPT-2's split regex, alternatives tried in order:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
enum GPT2Split {
    /// The end of the match that starts at `start` (always past `start`: every scalar matches some
    /// alternative).
    static func matchEnd(in text: ScalarSlice, from start: Int) -> Int {
        let end = text.endIndex
        if let contractionEnd = contractionEnd(in: text, from: start) { return contractionEnd }

        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the optional space, then a run of one class.
        var runStart = start
        if text[start] == " " && start + 1 < end { runStart = start + 1 }
        let runClass = UnicodeClasses.byteLevelClass(text[runStart])
        if runClass != .whitespace {
            var index = runStart + 1
            while index < end && UnicodeClasses.byteLevelClass(text[index]) == runClass { index += 1 }
            return index
        }

        // `\s+(?!\S)` keeps the last whitespace for the next word (" word") unless the run ends
        // the text; `\s+` takes a lone whitespace character.
        var index = start + 1
        while index < end && UnicodeClasses.byteLevelClass(text[index]) == .whitespace { index += 1 }
        if index == end || index - start == 1 { return index }
        return index - 1
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` (lowercase only, as in GPT-2).
    private static func contractionEnd(in text: ScalarSlice, from start: Int) -> Int? {
        guard text[start] == "'", start + 1 < text.endIndex else { return nil }
        switch text[start + 1] {
        case "s", "t", "m", "d":
            return start + 2
        case "r", "v", "l":
            guard start + 2 < text.endIndex else { return nil }
            let expected: Unicode.Scalar = text[start + 1] == "l" ? "l" : "e"
            return text[start + 2] == expected ? start + 3 : nil
        default:
            return nil
        }
    }
}

/// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes stand for
/// themselves, the other 68 take the code points from U+0100 up, in byte order.
enum ByteLevelAlphabet {
    static let characters: [Unicode.Scalar] = {
        var characters = [Unicode.Scalar](repeating: " ", count: 256)
        var nextSubstitute: UInt32 = 256
        for byte in 0..<256 {
            let isPrintable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if isPrintable {
                characters[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                characters[byte] = Unicode.Scalar(nextSubstitute)!
                nextSubstitute += 1
            }
        }
        return characters
    }()

    /// The byte that `character` spells (nil for a character outside the alphabet).
    static func byte(of character: Unicode.Scalar) -> UInt8? { bytesByCharacter[character.value] }

    private static let bytesByCharacter: [UInt32: UInt8] = {
        var bytes: [UInt32: UInt8] = [:]
        for (byte, character) in characters.enumerated() { bytes[character.value] = UInt8(byte) }
        return bytes
    }()

    /// The word's UTF-8 bytes, one alphabet character each.
    static func spell(_ word: ScalarSlice) -> [Unicode.Scalar] {
        var spelled: [Unicode.Scalar] = []
        spelled.reserveCapacity(word.count)
        let alphabet = characters
        for scalar in word {
            if scalar.value < 0x80 {
                spelled.append(alphabet[Int(scalar.value)])
            } else {
                for byte in UTF8.encode(scalar)! { spelled.append(alphabet[Int(byte)]) }
            }
        }
        return spelled
    }
}
