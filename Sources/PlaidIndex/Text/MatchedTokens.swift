import Foundation
import PlaidCore

/// A `TokenMatch` with what a reader needs to see it: the query token's text, and the matched
/// document token's text and place in the stored text, where they are known.
public struct MatchedTokens: Equatable, Sendable {
    public var match: TokenMatch
    /// The query token as the tokenizer writes it (nil for queries given as vectors).
    public var queryText: String?
    /// The matched document token as the tokenizer writes it (nil when the index stores no text,
    /// no model is at hand, or its vectors do not stand for tokens one by one).
    public var documentText: String?
    /// Where the matched document token lies in the stored title or text (nil when the index
    /// stores no text, for tokens that stand for no text, such as `[CLS]`, and where neither the
    /// stored tokens nor a model can say).
    public var documentSpan: StoredTextSpan?

    /// A result's MaxSim from its matches: their scores summed in query order, which is the
    /// score a PLAID search gives it, bit for bit (in bm25 and hybrid modes the result's own
    /// score is another one).
    public static func maxSim(of matches: [MatchedTokens]) -> Float {
        matches.reduce(Float(0)) { $0 + $1.match.score }
    }

    /// The matches of `query` (`tokens` vectors) in each document of `ordinals`
    /// (`Searcher.matches`), with token texts and spans: `question`'s tokens by `encoder`, and
    /// each document's from its stored tokens (spans even without `encoder`), or for a text
    /// stored without them its stored text tokenized again by `encoder`. A document whose token
    /// count differs from its vector count (pooled, or encoded by another model) gets no document
    /// texts or spans rather than wrong ones, and an `encoder` of another model than the index's
    /// names no tokens.
    /// `beforeEachDocument` runs before each document's texts are read (a caller's deadline).
    public static func of(documents ordinals: [Int], in index: CompressedIndex, query: UnsafePointer<Float>, tokens: Int,
                          question: String?, encoder: TextEncoder?, beforeEachDocument: () throws -> Void = {}) throws -> [[MatchedTokens]] {
        let matches = Searcher(index: index).matches(query: query, tokens: tokens, documents: ordinals)
        // Another model's vocabulary would name the stored ids wrongly, and tokenize differently.
        let encoder = encoder.flatMap { encoder in
            index.codebook.model.map { encoder.identity.isSameModel(as: $0) } ?? true ? encoder : nil
        }
        let queryTexts = question.flatMap { q in encoder?.queryTokenTexts(q) }.flatMap { $0.count == tokens ? $0 : nil }
        return try zip(ordinals, matches).map { ordinal, matches in
            try beforeEachDocument()
            var documentTokens: [StoredToken]?
            let stored = try index.storedText(ofDocument: ordinal)
            if let stored {
                documentTokens = (stored.tokens ?? encoder.flatMap(stored.tokens(by:)))
                    .flatMap { $0.count == index.documentLength(ordinal) ? $0 : nil }
            }
            return matches.map { match in
                let token = documentTokens?[match.documentToken]
                return MatchedTokens(match: match, queryText: queryTexts?[match.queryToken], documentText: token.flatMap { encoder?.tokenText(ofID: $0.id) },
                                     documentSpan: token?.span.flatMap { StoredTextSpan(joinedSpan: $0, title: stored?.title) })
            }
        }
    }
}

/// A place in a document's stored text: in its title or its text, in Unicode scalar offsets
/// (Python's string indices) into that field.
public struct StoredTextSpan: Equatable, Sendable {
    public enum Field: String, Sendable { case title, text }
    public var field: Field
    public var range: Range<Int>

    public init(field: Field, range: Range<Int>) {
        self.field = field
        self.range = range
    }

    /// The span of `joined`, a range of `DocumentText.encoded`: `title + " " + text` (the text
    /// alone without a title).
    init?(joinedSpan joined: Range<Int>, title: String?) {
        guard let title else {
            self.init(field: .text, range: joined)
            return
        }
        let titleLength = title.unicodeScalars.count
        if joined.lowerBound < titleLength {
            self.init(field: .title, range: joined.lowerBound..<min(joined.upperBound, titleLength))
        } else if joined.lowerBound > titleLength {
            self.init(field: .text, range: (joined.lowerBound - titleLength - 1)..<(joined.upperBound - titleLength - 1))
        } else {
            return nil  // the joining space
        }
    }
}

/// The one JSON form of a match, shared by `plaid search --json`, `plaid query --matches` and the
/// server: `query_token`, `document_token`, `score`, and where known `query_text`,
/// `document_text` and `document_span` (`field`, `start`, `end`).
extension MatchedTokens: Encodable {
    private enum Keys: String, CodingKey {
        case queryToken = "query_token", documentToken = "document_token", score, queryText = "query_text", documentText = "document_text"
        case documentSpan = "document_span", field, start, end
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(match.queryToken, forKey: .queryToken)
        try container.encode(match.documentToken, forKey: .documentToken)
        try container.encode(match.score, forKey: .score)
        try container.encodeIfPresent(queryText, forKey: .queryText)
        try container.encodeIfPresent(documentText, forKey: .documentText)
        if let documentSpan {
            var span = container.nestedContainer(keyedBy: Keys.self, forKey: .documentSpan)
            try span.encode(documentSpan.field.rawValue, forKey: .field)
            try span.encode(documentSpan.range.lowerBound, forKey: .start)
            try span.encode(documentSpan.range.upperBound, forKey: .end)
        }
    }
}
