import Foundation
import PlaidCore

/// A Hugging Face `tokenizer.json` tokenizer (WordPiece or byte-level BPE) that gives the same ids
/// as the `tokenizers` library.
///
/// The pipeline, as in HF: added tokens that match raw text are cut out first; each remaining
/// span is normalized, added tokens that match normalized text are cut out, the rest is
/// pre-tokenized into words, and the model turns each word into ids. The post-processor's
/// template then adds the special tokens.
///
/// The truncation and padding settings in the file are ignored on purpose: callers (PyLate's
/// ColBERT rules) decide lengths per call through `maxLength`.
///
/// Thread-safe: `encode` may run on many threads at once (the per-word cache is locked).
public final class Tokenizer: Sendable {
    private let normalizer: TextNormalizer?
    private let preTokenizer: PreTokenizer?
    private let model: TokenizationModel
    /// Added tokens matched in raw text (`normalized: false`).
    private let rawAddedTokens: AddedTokenMatcher
    /// Added tokens matched after normalization (`normalized: true`), by their normalized content.
    private let normalizedAddedTokens: AddedTokenMatcher
    private let template: SingleSequenceTemplate
    private let addedTokenIDs: [String: Int]
    private let tokensByID: [Int: String]
    /// Ids of the added tokens (special tokens among them), which stand for no text of their own.
    private let addedIDs: Set<Int>
    private let aligner: TokenAligner
    /// The number of ids: the vocabulary plus added tokens beyond it (the embedding table's rows).
    public let vocabularySize: Int

    /// Reads `tokenizer.json` at `path`.
    ///
    /// - Throws: `PlaidError.missingFile` if there is no file, `PlaidError.invalidInput` naming
    ///   the file and field for malformed JSON or a component that is not implemented.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PlaidError.missingFile(path: path, hint: "A model folder needs the tokenizer.json that transformers saves.")
        }
        let root: JSONFields
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            root = try JSONFields(file: path, path: "", value: JSONDecoder().decode(JSONValue.self, from: data))
        } catch let error as PlaidError {
            throw error
        } catch {
            throw PlaidError.invalidInput(file: path, detail: "not a readable JSON file: \(error)")
        }

        normalizer = try root.optional("normalizer").map { try makeNormalizer(JSONFields(file: path, path: "normalizer", value: $0)) }
        preTokenizer = try root.optional("pre_tokenizer").map {
            try makePreTokenizer(JSONFields(file: path, path: "pre_tokenizer", value: $0))
        }
        model = try makeModel(root.object("model"))

        let addedTokens = root.optional("added_tokens") == nil ? [] : try root.objects("added_tokens").map(AddedToken.init)
        var raw = AddedTokenMatcher()
        var normalized = AddedTokenMatcher()
        var addedTokenIDs: [String: Int] = [:]
        for token in addedTokens {
            addedTokenIDs[token.content] = token.id
            if token.normalized {
                var pattern = Array(token.content.unicodeScalars)
                normalizer?.normalize(&pattern)
                normalized.add(token, pattern: pattern)
            } else {
                raw.add(token, pattern: Array(token.content.unicodeScalars))
            }
        }
        rawAddedTokens = raw
        normalizedAddedTokens = normalized
        self.addedTokenIDs = addedTokenIDs

        var tokensByID: [Int: String] = [:]
        for (token, id) in model.vocabulary { tokensByID[id] = token }
        for (token, id) in addedTokenIDs { tokensByID[id] = token }
        self.tokensByID = tokensByID
        addedIDs = Set(addedTokenIDs.values)
        aligner = TokenAligner(surface: Self.surface(of: model, after: preTokenizer), normalizer: normalizer)
        vocabularySize = (tokensByID.keys.max() ?? -1) + 1

        let vocabulary = model.vocabulary
        template = try SingleSequenceTemplate(
            root.optional("post_processor").map { try JSONFields(file: path, path: "post_processor", value: $0) },
            tokenID: { addedTokenIDs[$0] ?? vocabulary[$0] })
    }

    /// Token ids of `text`.
    ///
    /// With `addSpecialTokens` the post-processor's template is applied (`[CLS] … [SEP]`).
    /// `maxLength`, if given, counts the special tokens too and drops text tokens from the right,
    /// like HF `truncation=True, max_length=N`.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> [Int] {
        var ids = textTokenIDs(text)
        let specialCount = addSpecialTokens ? template.specialTokenCount : 0
        if let maxLength {
            let textBudget = max(0, maxLength - specialCount)
            if ids.count > textBudget { ids.removeLast(ids.count - textBudget) }
        }
        guard addSpecialTokens else { return ids }
        return template.prefix + ids + template.suffix
    }

    /// The id of `token` as an added token or a vocabulary entry.
    public func tokenID(_ token: String) -> Int? {
        addedTokenIDs[token] ?? model.vocabulary[token]
    }

    /// The token string of `id`, or nil for an id outside the vocabulary.
    public func token(forID id: Int) -> String? {
        tokensByID[id]
    }

    /// Where each of `ids` lies in `text`, in Unicode scalar offsets (Python's string indices):
    /// `ids` are what `encode` gave for `text` (or for `text` lower-cased, with `lowercased`), with
    /// the template's special tokens when `withSpecialTokens`. Those get nil, as does a token that
    /// could not be placed (`TokenAligner` says how tokens are placed).
    public func spans(of ids: [Int], in text: String, lowercased: Bool = false, withSpecialTokens: Bool = true) -> [Range<Int>?] {
        let template = withSpecialTokens && ids.count >= self.template.specialTokenCount
            ? (prefix: self.template.prefix.count, suffix: self.template.suffix.count) : (prefix: 0, suffix: 0)
        let tokens = ids.enumerated().map { position, id -> TokenAligner.Token in
            if position < template.prefix || position >= ids.count - template.suffix { return .none }
            guard let token = tokensByID[id] else { return .none }
            if id == model.unknownID { return .unknown(written: Array(token.unicodeScalars)) }
            if addedIDs.contains(id) { return .added(Array(token.unicodeScalars)) }
            return aligner.surfaceBytes(of: token).map { .surface($0) } ?? .none
        }
        return aligner.spans(of: tokens, in: text, lowercased: lowercased)
    }

    private static func surface(of model: TokenizationModel, after preTokenizer: PreTokenizer?) -> TokenAligner.Surface {
        if let wordPiece = model as? WordPieceModel { return .wordPiece(continuingPrefix: wordPiece.continuingPrefix) }
        func isByteLevel(_ step: PreTokenizer?) -> Bool {
            if step is ByteLevelPreTokenizer { return true }
            return (step as? PreTokenizerSequence)?.steps.contains(where: isByteLevel) ?? false
        }
        if isByteLevel(preTokenizer) { return .byteLevel }
        let bpe = model as? BPEModel
        return .plain(continuingPrefix: bpe?.continuingSubwordPrefix, endOfWordSuffix: bpe?.endOfWordSuffix)
    }

    private func textTokenIDs(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var rawSegments: [TextSegment] = []
        rawAddedTokens.segment(scalars[...], into: &rawSegments)

        var ids: [Int] = []
        ids.reserveCapacity(scalars.count / 3 + 4)
        var normalizedSegments: [TextSegment] = []
        var words: [ScalarSlice] = []
        for segment in rawSegments {
            switch segment {
            case let .addedToken(id):
                ids.append(id)
            case let .text(span):
                var normalized = Array(span)
                normalizer?.normalize(&normalized)
                normalizedSegments.removeAll(keepingCapacity: true)
                normalizedAddedTokens.segment(normalized[...], into: &normalizedSegments)
                for piece in normalizedSegments {
                    switch piece {
                    case let .addedToken(id):
                        ids.append(id)
                    case let .text(piece):
                        words.removeAll(keepingCapacity: true)
                        if let preTokenizer {
                            preTokenizer.split(piece, into: &words)
                        } else {
                            words.append(piece)
                        }
                        for word in words { model.tokenize(word, into: &ids) }
                    }
                }
            }
        }
        return ids
    }
}
