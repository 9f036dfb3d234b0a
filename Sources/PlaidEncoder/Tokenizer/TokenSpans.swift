import Foundation
import PlaidCore

/// Where a tokenizer's tokens lie in the text they came from, for highlighting.
///
/// The tokenizer itself keeps no offsets: its normalizers rewrite whole pieces of text (NFD, case,
/// accents, replacements), and tracking every scalar through them would touch every normalizer.
/// Instead the tokens are aligned to the text afterwards: the text is normalized one grapheme
/// cluster at a time (with the same normalizer, so `É` becomes `e` for an uncased BERT), and each
/// token's surface (a WordPiece piece without its `##`, a byte-level BPE token's bytes) is matched
/// against what follows the previous token, white space aside. A span covers whole clusters and
/// no white space at its ends. Added tokens met in the text are matched as written; the unknown
/// token takes the word that follows the previous token. Tokens of the template (`[CLS]`),
/// of white space alone, and any that cannot be found nearby get no span; the alignment then goes
/// on from the last match, so one odd token never shifts the spans of the rest.
struct TokenAligner {
    /// How a vocabulary entry spells the text it stands for.
    enum Surface {
        /// WordPiece: the piece, less the continuing-subword prefix of pieces inside a word.
        case wordPiece(continuingPrefix: String)
        /// GPT-2 byte-level BPE: one alphabet character per byte of UTF-8.
        case byteLevel
        /// Other BPE: the token, less a continuing prefix and an end-of-word suffix; `▁` is a space.
        case plain(continuingPrefix: String?, endOfWordSuffix: String?)
    }

    /// What a token stands for in the text, for placing it.
    enum Token {
        /// Nothing (a token of the post-processor's template, or a vocabulary entry without text).
        case none
        /// The unknown token: its own text where the text holds it (`[UNK]` written out), else
        /// the word that follows the previous token (up to white space or punctuation).
        case unknown(written: [Unicode.Scalar])
        /// An added token met in the text: its content, as the text spells it.
        case added([Unicode.Scalar])
        /// A vocabulary entry: `surfaceBytes`.
        case surface([UInt8])
    }

    /// How far past the previous token a token is looked for, in bytes of normalized text (or
    /// scalars, for added tokens): an unknown token's word, or text the normalizer rewrote across
    /// clusters, is skipped so, while a token that is not there costs a bounded search.
    static let searchWindow = 256

    let surface: Surface
    let normalizer: TextNormalizer?
    /// The clusters of the 128 ASCII characters, as they are and lower-cased: most text is
    /// ASCII, and normalizing it a character at a time would be most of the alignment's cost.
    fileprivate let ascii: [[Cluster]]

    /// Byte-level BPE spells every byte of the text, white space included, so it is matched byte
    /// for byte; the other models drop white space, so it is left out on both sides.
    fileprivate let keepsWhiteSpace: Bool
    /// Whether `▁` is white space (`isWhiteSpace`): for `.plain` surfaces, which spell spaces so.
    fileprivate let metaspace: Bool

    init(surface: Surface, normalizer: TextNormalizer?) {
        self.surface = surface
        self.normalizer = normalizer
        if case .byteLevel = surface { keepsWhiteSpace = true } else { keepsWhiteSpace = false }
        if case .plain = surface { metaspace = true } else { metaspace = false }
        let keeping = keepsWhiteSpace, metaspace = metaspace
        ascii = [false, true].map { lowercased in
            (0..<128).map { Cluster(Character(Unicode.Scalar(UInt8($0))), normalizer: normalizer, lowercased: lowercased, keepingWhiteSpace: keeping,
                                    metaspace: metaspace) }
        }
    }

    /// The bytes of text that token `token` (its vocabulary entry) stands for; nil when none.
    func surfaceBytes(of token: String) -> [UInt8]? {
        var spelled: [UInt8] = []
        switch surface {
        case let .wordPiece(prefix):
            spelled = Array((token.hasPrefix(prefix) && token.count > prefix.count ? String(token.dropFirst(prefix.count)) : token).utf8)
        case .byteLevel:
            for scalar in token.unicodeScalars {
                guard let byte = ByteLevelAlphabet.byte(of: scalar) else { return nil }
                spelled.append(byte)
            }
        case let .plain(prefix, suffix):
            var text = token
            if let prefix, text.hasPrefix(prefix) { text.removeFirst(prefix.count) }
            if let suffix, text.hasSuffix(suffix) { text.removeLast(suffix.count) }
            spelled = Array(text.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
        }
        if !keepsWhiteSpace { spelled = String(decoding: spelled, as: UTF8.self).unicodeScalars.filter { !Self.isWhiteSpace($0, metaspace: metaspace) }.flatMap { Array(UTF8.encode($0)!) } }
        return spelled.isEmpty ? nil : spelled
    }

    /// Each token's span in `text`, in Unicode scalar offsets. `lowercased`: the text was
    /// lower-cased before tokenizing (some ColBERT models do it themselves).
    func spans(of tokens: [Token], in text: String, lowercased: Bool) -> [Range<Int>?] {
        let normalized = NormalizedText(text, aligner: self, lowercased: lowercased)
        let bytes = normalized.bytes[...]
        var spans = [Range<Int>?](repeating: nil, count: tokens.count)
        var cursor = 0
        /// Token t placed at bytes [start, end) of the normalized text.
        func place(_ t: Int, _ start: Int, _ end: Int, span: Range<Int>? = nil) {
            spans[t] = span ?? normalized.span(start..<end)
            cursor = end
        }
        for (t, token) in tokens.enumerated() {
            switch token {
            case .none:
                continue
            case let .unknown(written):
                if let (start, end) = Self.findAdded(written, in: normalized.scalars, from: normalized.scalarOffset(ofByte: cursor), metaspace: metaspace,
                                                     anchored: true), normalized.firstByte(from: start) == cursor {
                    place(t, cursor, normalized.firstByte(from: end), span: normalized.trimmed(start..<end))
                } else if cursor < bytes.count {
                    place(t, cursor, normalized.wordEnd(from: cursor))
                }
            case var .surface(surface):
                var start = Self.find(surface[...], in: bytes, from: cursor)
                if start == nil && keepsWhiteSpace && surface.first == 0x20 {
                    // A space the pre-tokenizer put before the text (`add_prefix_space`).
                    surface.removeFirst()
                    if !surface.isEmpty { start = Self.find(surface[...], in: bytes, from: cursor) }
                }
                if let start { place(t, start, start + surface.count) }
            case let .added(content):
                // Added tokens are cut from the text before normalizing: look for them as written.
                guard let (start, end) = Self.findAdded(content, in: normalized.scalars, from: normalized.scalarOffset(ofByte: cursor), metaspace: metaspace) else { continue }
                place(t, normalized.firstByte(from: start), normalized.firstByte(from: end), span: normalized.trimmed(start..<end))
            }
        }
        return spans
    }

    /// The first occurrence of `pattern` in `text` that starts within `searchWindow` of `cursor`.
    private static func find(_ pattern: ArraySlice<UInt8>, in text: ArraySlice<UInt8>, from cursor: Int) -> Int? {
        guard let first = pattern.first else { return nil }
        let last = min(cursor + searchWindow, text.count - pattern.count)
        guard cursor <= last else { return nil }
        for start in cursor...last where text[start] == first {
            if text[start..<(start + pattern.count)].elementsEqual(pattern) { return start }
        }
        return nil
    }

    /// The first occurrence of added token `content` in `scalars` within `searchWindow` of
    /// `cursor` (at `cursor` itself when `anchored`), where a white-space scalar of the content
    /// matches any white-space scalar and letters match in either case (an added token that is normalized, such as PyLate's `"[Q] "`,
    /// also matches `"[q]\t"`).
    private static func findAdded(_ content: [Unicode.Scalar], in scalars: [Unicode.Scalar], from cursor: Int, metaspace: Bool,
                                  anchored: Bool = false) -> (Int, Int)? {
        guard !content.isEmpty, cursor < scalars.count else { return nil }
        for start in cursor..<min(cursor + (anchored ? 1 : searchWindow), scalars.count) {
            var i = start
            var matched = true
            for scalar in content {
                guard i < scalars.count, scalars[i] == scalar || (isWhiteSpace(scalar, metaspace: metaspace) && isWhiteSpace(scalars[i], metaspace: metaspace))
                        || scalars[i].properties.lowercaseMapping == scalar.properties.lowercaseMapping else {
                    matched = false
                    break
                }
                i += 1
            }
            if matched { return (start, i) }
        }
        return nil
    }

    /// White space as the tokenizer drops it: with `metaspace` also SentencePiece's `▁`, which
    /// `.plain` BPE vocabularies write for a space (BERT's takes it as a symbol of a word).
    static func isWhiteSpace(_ scalar: Unicode.Scalar, metaspace: Bool) -> Bool {
        (metaspace && scalar == "\u{2581}") || UnicodeClasses.isWhitespace(scalar)
    }

}

/// A text normalized one grapheme cluster at a time (so that `é` written as `e` and a combining
/// accent composes as it does in the whole text), as UTF-8, with the cluster each byte comes from.
private struct NormalizedText {
    let scalars: [Unicode.Scalar]
    private(set) var bytes: [UInt8] = []
    /// Per byte: its cluster's first scalar and the scalar past its last.
    private var starts: [Int32] = [], ends: [Int32] = []
    /// Per byte: whether it is part of a white-space scalar (kept only with `keepingWhiteSpace`).
    private var blank: [Bool] = []
    /// Per byte: whether a word starts there (after white space, at or after punctuation).
    private var wordStart: [Bool] = []
    /// Whether `▁` is white space (`TokenAligner.isWhiteSpace`).
    private let metaspace: Bool

    init(_ text: String, aligner: TokenAligner, lowercased: Bool) {
        scalars = Array(text.unicodeScalars)
        bytes.reserveCapacity(scalars.count)
        starts.reserveCapacity(scalars.count)
        ends.reserveCapacity(scalars.count)
        blank.reserveCapacity(scalars.count)
        wordStart.reserveCapacity(scalars.count)
        let ascii = aligner.ascii[lowercased ? 1 : 0], keeping = aligner.keepsWhiteSpace
        metaspace = aligner.metaspace
        // Keyed by the exact bytes: Characters compare by canonical equivalence, and `ñ` written
        // as one scalar or as two must not share a width.
        var cache: [[UInt8]: Cluster] = [:]
        var offset = 0
        var breaksAfter = true
        let utf8 = text.utf8
        var i = utf8.startIndex
        while i < utf8.endIndex {
            // An ASCII character followed by another is a cluster of its own (but CR, which LF joins).
            let byte = utf8[i], after = utf8.index(after: i)
            let cluster: Cluster
            if byte < 0x80 && byte != 0x0D && (after == utf8.endIndex || utf8[after] < 0x80) {
                cluster = ascii[Int(byte)]
                i = after
            } else {
                let end = text.index(after: i)
                let key = Array(utf8[i..<end])
                if let known = cache[key] {
                    cluster = known
                } else {
                    cluster = Cluster(Character(String(text[i..<end])), normalizer: aligner.normalizer, lowercased: lowercased,
                                      keepingWhiteSpace: keeping, metaspace: metaspace)
                    cache[key] = cluster
                }
                i = end
            }
            let startsWord = breaksAfter || cluster.isPunctuation
            breaksAfter = cluster.isBlank || cluster.isPunctuation
            for (n, (byte, isBlank)) in zip(cluster.bytes, cluster.blank).enumerated() {
                wordStart.append(n == 0 && startsWord)
                bytes.append(byte)
                blank.append(isBlank)
                starts.append(Int32(offset))
                ends.append(Int32(offset + cluster.width))
            }
            offset += cluster.width
        }
    }

    /// The scalars that bytes `range` come from, less white space at either end; nil when they
    /// are all white space.
    func span(_ range: Range<Int>) -> Range<Int>? {
        var first = range.lowerBound, last = range.upperBound - 1
        while first <= last && blank[first] { first += 1 }
        while last >= first && blank[last] { last -= 1 }
        return first <= last ? Int(starts[first])..<Int(ends[last]) : nil
    }

    /// `range` of the scalars less white space at either end; nil when it is all white space.
    func trimmed(_ range: Range<Int>) -> Range<Int>? {
        var start = range.lowerBound, end = range.upperBound
        while start < end && TokenAligner.isWhiteSpace(scalars[start], metaspace: metaspace) { start += 1 }
        while end > start && TokenAligner.isWhiteSpace(scalars[end - 1], metaspace: metaspace) { end -= 1 }
        return start < end ? start..<end : nil
    }

    /// The byte past the word that starts at byte `byte`: the next byte that starts a word.
    func wordEnd(from byte: Int) -> Int {
        var end = byte + 1
        while end < bytes.count && !wordStart[end] { end += 1 }
        return end
    }

    /// The scalar where byte `byte` starts (the text's end past the last byte).
    func scalarOffset(ofByte byte: Int) -> Int { byte < starts.count ? Int(starts[byte]) : scalars.count }

    /// The first byte that comes from scalar `offset` or later.
    func firstByte(from offset: Int) -> Int {
        var low = 0, high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if Int(starts[middle]) < offset { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// One grapheme cluster of a text, normalized: its bytes (white space left out unless kept, each
/// byte marked when it belongs to white space), its width in scalars, and whether it is white
/// space or punctuation (where BERT's words break).
private struct Cluster {
    var bytes: [UInt8] = []
    var blank: [Bool] = []
    let width: Int
    let isBlank: Bool
    let isPunctuation: Bool

    init(_ character: Character, normalizer: TextNormalizer?, lowercased: Bool, keepingWhiteSpace: Bool, metaspace: Bool) {
        width = character.unicodeScalars.count
        isBlank = character.unicodeScalars.allSatisfy { TokenAligner.isWhiteSpace($0, metaspace: metaspace) }
        // BERT's pre-tokenizer makes a word of each punctuation mark and CJK ideograph.
        isPunctuation = character.unicodeScalars.contains { UnicodeClasses.isBertPunctuation($0) || UnicodeClasses.isChineseCharacter($0) }
        var scalars = Array((lowercased ? character.lowercased() : String(character)).unicodeScalars)
        normalizer?.normalize(&scalars)
        for scalar in scalars {
            let white = TokenAligner.isWhiteSpace(scalar, metaspace: metaspace)
            guard keepingWhiteSpace || !white else { continue }
            let utf8 = UTF8.encode(scalar)!
            bytes += utf8
            blank += repeatElement(white, count: utf8.count)
        }
    }
}
