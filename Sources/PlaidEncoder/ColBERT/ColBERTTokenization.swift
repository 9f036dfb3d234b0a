import Foundation
import PlaidCore

/// How PyLate 1.6 turns a text into model input (`ColBERT.tokenize`, `ColBERT.encode`):
///
/// - The text is stripped (Python `str.strip`) and, if the Transformer module says so, lower-cased.
/// - It is tokenised with special tokens and truncated to `length − 1` tokens (the length the
///   prefix token will fill; `length` when there is no prefix). PyLate sets the Transformer's
///   `max_seq_length` to exactly that on every call, so `max_seq_length` in
///   sentence_bert_config.json and the tokenizer's own truncation settings never apply.
/// - Queries with expansion are padded to that length with the padding token PyLate chooses
///   (the mask token, else EOS, else the tokenizer's pad token); the padding is attended to only
///   when `attend_to_expansion_tokens`.
/// - The prefix token id is inserted at position 1, right after `[CLS]`.
/// - Documents keep the vectors of every token except skiplist tokens (no padding is made here).
struct ColBERTTokenization: @unchecked Sendable {
    let tokenizer: Tokenizer
    let settings: ColBERTSettings
    let lowercase: Bool
    let queryPrefixID: Int?
    let documentPrefixID: Int?
    /// The query expansion (padding) token.
    let expansionID: Int
    /// Token ids whose document vectors are dropped.
    let skiplist: Set<Int>

    init(tokenizer: Tokenizer, settings: ColBERTSettings, lowercase: Bool, specialTokens: SpecialTokenNames, folder: String) throws {
        self.tokenizer = tokenizer
        self.settings = settings
        self.lowercase = lowercase
        let tokenizerPath = (folder as NSString).appendingPathComponent("tokenizer.json")
        func prefixID(_ prefix: String, field: String) throws -> Int? {
            guard !prefix.isEmpty else { return nil }
            guard let id = tokenizer.tokenID(prefix) else {
                // PyLate would add the token and grow the embeddings with fresh rows, which a saved model always has.
                throw PlaidError.invalidInput(file: tokenizerPath, detail: "has no token '\(prefix)' (the \(field) of config_sentence_transformers.json); a model saved by PyLate has its prefixes as added tokens")
            }
            return id
        }
        queryPrefixID = try prefixID(settings.queryPrefix, field: "query_prefix")
        documentPrefixID = try prefixID(settings.documentPrefix, field: "document_prefix")
        let candidates = [specialTokens.mask, specialTokens.eos, specialTokens.pad]
        guard let expansion = candidates.lazy.compactMap({ $0 }).compactMap({ tokenizer.tokenID($0) }).first else {
            throw PlaidError.invalidInput(file: (folder as NSString).appendingPathComponent("tokenizer_config.json"), detail: "names no mask, EOS or pad token found in tokenizer.json; PyLate pads queries with one of them")
        }
        expansionID = expansion
        // transformers' convert_tokens_to_ids maps an unknown word to the unknown token.
        let unknownID = specialTokens.unk.flatMap { tokenizer.tokenID($0) }
        skiplist = Set(settings.skiplistWords.compactMap { tokenizer.tokenID($0) ?? unknownID })
    }

    private func prepare(_ text: String) -> String {
        let stripped = pythonStrip(text)
        return lowercase ? stripped.lowercased() : stripped
    }

    private static func inserting(_ prefix: Int?, into ids: [Int]) -> [Int] {
        guard let prefix else { return ids }
        var result = ids
        result.insert(prefix, at: min(1, ids.count))
        return result
    }

    /// Query token ids and which of them may be attended to.
    func query(_ text: String) -> (ids: [Int], attendable: [Bool]) {
        let length = queryPrefixID == nil ? settings.queryLength : settings.queryLength - 1
        var ids = tokenizer.encode(prepare(text), addSpecialTokens: true, maxLength: length)
        var attendable = [Bool](repeating: true, count: ids.count)
        if settings.doQueryExpansion && ids.count < length {
            let padding = length - ids.count
            ids += [Int](repeating: expansionID, count: padding)
            attendable += [Bool](repeating: settings.attendToExpansionTokens, count: padding)
        }
        if queryPrefixID != nil { attendable.insert(true, at: min(1, attendable.count)) }
        return (ColBERTTokenization.inserting(queryPrefixID, into: ids), attendable)
    }

    /// Document token ids (all attended to).
    func document(_ text: String) -> [Int] {
        ColBERTTokenization.inserting(documentPrefixID, into: tokenizedDocument(text))
    }

    /// Document token ids and each one's span in `text` (`Tokenizer.spans`; nil for the special
    /// tokens and the prefix).
    func documentWithSpans(_ text: String) -> (ids: [Int], spans: [Range<Int>?]) {
        let ids = tokenizedDocument(text)
        var spans = tokenizer.spans(of: ids, in: text, lowercased: lowercase)
        if documentPrefixID != nil { spans.insert(nil, at: min(1, spans.count)) }
        return (ColBERTTokenization.inserting(documentPrefixID, into: ids), spans)
    }

    private func tokenizedDocument(_ text: String) -> [Int] {
        let length = documentPrefixID == nil ? settings.documentLength : settings.documentLength - 1
        return tokenizer.encode(prepare(text), addSpecialTokens: true, maxLength: length)
    }
}
