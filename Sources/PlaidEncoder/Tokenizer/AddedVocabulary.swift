import PlaidCore

/// One entry of `added_tokens`.
struct AddedToken: Sendable {
    let id: Int
    let content: String
    /// Matches only where it is not part of a longer word (`\w` on neither side).
    let singleWord: Bool
    /// Takes the whitespace on its left (resp. right) into the match.
    let leftStrip: Bool
    let rightStrip: Bool
    /// Matched in normalized text (its content normalized the same way) rather than raw text.
    let normalized: Bool
    let special: Bool

    init(_ fields: JSONFields) throws {
        id = try fields.int("id")
        content = try fields.string("content")
        singleWord = try fields.bool("single_word", default: false)
        leftStrip = try fields.bool("lstrip", default: false)
        rightStrip = try fields.bool("rstrip", default: false)
        special = try fields.bool("special", default: false)
        // HF's default: special tokens match raw text, others normalized text.
        normalized = try fields.bool("normalized", default: !special)
    }
}

/// A piece of the input after added tokens were cut out: either an added token's id or a span
/// of text that still goes through the normalizer (if not done yet), pre-tokenizer and model.
enum TextSegment {
    case addedToken(Int)
    case text(ScalarSlice)
}

/// Finds added tokens in text the way HF's `AddedVocabulary` does: leftmost-longest
/// non-overlapping matches, then each match's `single_word`, `lstrip` and `rstrip` rules.
struct AddedTokenMatcher: Sendable {
    /// A trie over the tokens' scalars; node 0 is the root.
    private struct Node: Sendable {
        var children: [UInt32: Int32] = [:]
        var tokenIndex: Int32 = -1
    }

    private var nodes = [Node()]
    private var tokens: [AddedToken] = []
    /// Scalars that start some token: most positions are rejected without touching the trie, and
    /// ASCII ones without hashing.
    private var asciiFirstScalars = [Bool](repeating: false, count: 128)
    private var otherFirstScalars = Set<UInt32>()

    @inline(__always)
    private func mayStartToken(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x80 ? asciiFirstScalars[Int(value)] : otherFirstScalars.contains(value)
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Adds `token`, matched by the scalars `pattern` (its content, normalized where it matches
    /// normalized text). On duplicate patterns the first token wins.
    mutating func add(_ token: AddedToken, pattern: [Unicode.Scalar]) {
        guard let first = pattern.first else { return }
        if first.value < 0x80 {
            asciiFirstScalars[Int(first.value)] = true
        } else {
            otherFirstScalars.insert(first.value)
        }
        var node = 0
        for scalar in pattern {
            if let child = nodes[node].children[scalar.value] {
                node = Int(child)
            } else {
                nodes.append(Node())
                nodes[node].children[scalar.value] = Int32(nodes.count - 1)
                node = nodes.count - 1
            }
        }
        if nodes[node].tokenIndex < 0 {
            tokens.append(token)
            nodes[node].tokenIndex = Int32(tokens.count - 1)
        }
    }

    /// The longest token that starts at `start`, as (token index, end).
    private func longestMatch(in text: ScalarSlice, at start: Int) -> (Int, Int)? {
        var node = 0
        var best: (Int, Int)? = nil
        var index = start
        while index < text.endIndex, let child = nodes[node].children[text[index].value] {
            node = Int(child)
            index += 1
            if nodes[node].tokenIndex >= 0 { best = (Int(nodes[node].tokenIndex), index) }
        }
        return best
    }

    /// Cuts `text` into added tokens and the text between them (empty spans left out).
    func segment(_ text: ScalarSlice, into segments: inout [TextSegment]) {
        if tokens.isEmpty {
            if !text.isEmpty { segments.append(.text(text)) }
            return
        }
        // First the raw leftmost-longest matches, as the automaton finds them; only then the
        // per-token rules, which may drop a match or widen it over whitespace.
        var matches: [(token: Int, start: Int, end: Int)] = []
        var position = text.startIndex
        while position < text.endIndex {
            if mayStartToken(text[position]), let (token, end) = longestMatch(in: text, at: position) {
                matches.append((token, position, end))
                position = end
            } else {
                position += 1
            }
        }
        var consumedUpTo = text.startIndex
        for match in matches {
            let token = tokens[match.token]
            var start = match.start
            var end = match.end
            if token.singleWord {
                let wordOnLeft = start > text.startIndex && UnicodeClasses.isWordCharacter(text[start - 1])
                let wordOnRight = end < text.endIndex && UnicodeClasses.isWordCharacter(text[end])
                if wordOnLeft || wordOnRight { continue }
            }
            if token.leftStrip {
                var newStart = start
                while newStart > text.startIndex && UnicodeClasses.isWhitespace(text[newStart - 1]) { newStart -= 1 }
                // Whitespace already taken by the previous match stays with it.
                start = max(newStart, consumedUpTo)
            }
            if token.rightStrip {
                while end < text.endIndex && UnicodeClasses.isWhitespace(text[end]) { end += 1 }
            }
            if start > consumedUpTo { segments.append(.text(text[consumedUpTo..<start])) }
            segments.append(.addedToken(token.id))
            consumedUpTo = end
        }
        if consumedUpTo < text.endIndex { segments.append(.text(text[consumedUpTo..<text.endIndex])) }
    }
}
