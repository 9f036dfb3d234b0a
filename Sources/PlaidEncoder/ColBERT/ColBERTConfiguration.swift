import Foundation
import PlaidCore

/// The ColBERT settings of `config_sentence_transformers.json`, with PyLate 1.6's defaults for
/// the fields a file leaves out.
public struct ColBERTSettings: Decodable, Sendable, Equatable {
    /// Prepended as a token after `[CLS]`; "" means no prefix token.
    public var queryPrefix: String
    public var documentPrefix: String
    /// Query vectors, prefix included (PyLate `query_length`).
    public var queryLength: Int
    /// Longest document in tokens, prefix included (PyLate `document_length`).
    public var documentLength: Int
    /// Pad queries to `queryLength` with the mask token and keep all those vectors.
    public var doQueryExpansion: Bool
    /// Whether the padding (expansion) tokens of a query are attended to.
    public var attendToExpansionTokens: Bool
    /// Tokens whose document vectors are dropped (punctuation by default).
    public var skiplistWords: [String]

    /// PyLate's default skiplist: Python's `string.punctuation`.
    public static let defaultSkiplist = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".map(String.init)

    enum CodingKeys: String, CodingKey {
        case queryPrefix = "query_prefix"
        case documentPrefix = "document_prefix"
        case queryLength = "query_length"
        case documentLength = "document_length"
        case doQueryExpansion = "do_query_expansion"
        case attendToExpansionTokens = "attend_to_expansion_tokens"
        case skiplistWords = "skiplist_words"
    }

    public init() {
        queryPrefix = "[Q] "; documentPrefix = "[D] "
        queryLength = 32; documentLength = 180
        doQueryExpansion = true; attendToExpansionTokens = false
        skiplistWords = ColBERTSettings.defaultSkiplist
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        queryPrefix = try c.decodeIfPresent(String.self, forKey: .queryPrefix) ?? queryPrefix
        documentPrefix = try c.decodeIfPresent(String.self, forKey: .documentPrefix) ?? documentPrefix
        queryLength = try c.decodeIfPresent(Int.self, forKey: .queryLength) ?? queryLength
        documentLength = try c.decodeIfPresent(Int.self, forKey: .documentLength) ?? documentLength
        doQueryExpansion = try c.decodeIfPresent(Bool.self, forKey: .doQueryExpansion) ?? doQueryExpansion
        attendToExpansionTokens = try c.decodeIfPresent(Bool.self, forKey: .attendToExpansionTokens) ?? attendToExpansionTokens
        skiplistWords = try c.decodeIfPresent([String].self, forKey: .skiplistWords) ?? skiplistWords
        // PyLate: without expansion there are no expansion tokens to attend to.
        if !doQueryExpansion { attendToExpansionTokens = false }
    }
}

/// One entry of `modules.json`: the sentence-transformers module chain.
struct ModuleEntry: Decodable {
    let index: Int?
    let path: String
    let type: String
    enum CodingKeys: String, CodingKey { case index = "idx", path, type }

    var isTransformer: Bool { type.hasSuffix("models.Transformer") }
    var isDense: Bool { type.hasSuffix(".Dense") }
}

/// `sentence_bert_config.json` of the Transformer module; only lower-casing matters here
/// (`max_seq_length` is overridden by PyLate on every call with the ColBERT lengths).
struct TransformerModuleSettings: Decodable {
    var doLowerCase: Bool
    enum CodingKeys: String, CodingKey { case doLowerCase = "do_lower_case" }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        doLowerCase = try c.decodeIfPresent(Bool.self, forKey: .doLowerCase) ?? false
    }
    init() { doLowerCase = false }
}

/// Special tokens named in `tokenizer_config.json` (each a string, or `{"content": …}` in older files).
struct SpecialTokenNames: Decodable {
    var mask: String?
    var eos: String?
    var pad: String?
    var unk: String?
    enum CodingKeys: String, CodingKey { case mask = "mask_token", eos = "eos_token", pad = "pad_token", unk = "unk_token" }

    private struct AddedToken: Decodable { let content: String }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func name(_ key: CodingKeys) -> String? {
            if let s = try? c.decodeIfPresent(String.self, forKey: key) { return s }
            return (try? c.decodeIfPresent(AddedToken.self, forKey: key))?.content
        }
        mask = name(.mask); eos = name(.eos); pad = name(.pad); unk = name(.unk)
    }
    init() {}
}
