import Foundation
import PlaidCore

/// A `TokenMatch` with what a reader needs to see it: the query token's text and the matched
/// document token's, where they are known.
public struct MatchedTokens: Equatable, Sendable {
    public var match: TokenMatch
    /// The query token as the tokenizer writes it (nil for queries given as vectors).
    public var queryText: String?
    /// The matched document token as the tokenizer writes it (nil when the index stores no text,
    /// or its vectors do not stand for tokens one by one).
    public var documentText: String?

    /// The matches of `query` (`tokens` vectors) in each document of `ordinals`
    /// (`Searcher.matches`), with token texts: `question`'s tokens by `encoder`, and each
    /// document's from its stored text, tokenized again as the encoder saw it when it was indexed.
    /// A document whose token count differs from its vector count (pooled, or encoded by another
    /// model) gets no document texts rather than wrong ones.
    /// `beforeEachDocument` runs before each document's texts are read (a caller's deadline).
    public static func of(documents ordinals: [Int], in index: CompressedIndex, query: UnsafePointer<Float>, tokens: Int,
                          question: String?, encoder: TextEncoder?, beforeEachDocument: () throws -> Void = {}) throws -> [[MatchedTokens]] {
        let matches = Searcher(index: index).matches(query: query, tokens: tokens, documents: ordinals)
        let queryTexts = question.flatMap { q in encoder?.queryTokenTexts(q) }.flatMap { $0.count == tokens ? $0 : nil }
        return try zip(ordinals, matches).map { ordinal, matches in
            try beforeEachDocument()
            var documentTexts: [String]?
            if let encoder, let stored = try index.storedText(ofDocument: ordinal) {
                let encoded = CollectionDocument(id: "", title: stored.title, text: stored.text).record.text
                documentTexts = encoder.documentTokenTexts(encoded).flatMap { $0.count == index.documentLength(ordinal) ? $0 : nil }
            }
            return matches.map { MatchedTokens(match: $0, queryText: queryTexts?[$0.queryToken], documentText: documentTexts?[$0.documentToken]) }
        }
    }
}
