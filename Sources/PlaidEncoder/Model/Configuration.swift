import Foundation
import PlaidCore

/// The `model_type` of a Hugging Face `config.json`, read before the full configuration.
struct ModelTypeProbe: Decodable {
    let modelType: String
    enum CodingKeys: String, CodingKey { case modelType = "model_type" }
}

/// The hidden activation of a feed-forward block, by its transformers name.
public enum Activation: String, Sendable {
    /// Exact GELU, 0.5·x·(1 + erf(x/√2)).
    case gelu
    /// The tanh approximation of GELU.
    case geluTanh

    init(transformersName name: String, file: String) throws {
        switch name {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        default:
            throw PlaidError.invalidInput(file: file, detail: "hidden activation '\(name)' is not supported (expected gelu, gelu_new or gelu_pytorch_tanh)")
        }
    }
}

/// `config.json` of a BERT model (`model_type` "bert").
public struct BertConfiguration: Decodable, Sendable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var hiddenActivation: String
    public var maxPositionEmbeddings: Int
    public var typeVocabularySize: Int
    public var layerNormEps: Float
    public var positionEmbeddingType: String

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size"
        case hiddenSize = "hidden_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case intermediateSize = "intermediate_size"
        case hiddenActivation = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabularySize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps"
        case positionEmbeddingType = "position_embedding_type"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        // Defaults are those of transformers' BertConfig.
        hiddenActivation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? "gelu"
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 512
        typeVocabularySize = try c.decodeIfPresent(Int.self, forKey: .typeVocabularySize) ?? 2
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
    }

    var headDim: Int { hiddenSize / headCount }
}

/// `config.json` of a ModernBERT model (`model_type` "modernbert"). Both the older form
/// (`global_attn_every_n_layers`, `global_rope_theta`, `local_rope_theta`) and the newer one
/// (`layer_types`, `rope_parameters`) are read; the newer wins where both are present.
public struct ModernBertConfiguration: Decodable, Sendable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var hiddenActivation: String
    public var maxPositionEmbeddings: Int
    public var normEps: Float
    public var normBias: Bool
    public var attentionBias: Bool
    public var mlpBias: Bool
    /// The total sliding window; a local layer attends to keys within ±localAttention/2.
    public var localAttention: Int
    /// true for layers with global (full) attention, false for sliding-window ones.
    public var globalLayers: [Bool]
    public var globalRopeTheta: Double
    public var localRopeTheta: Double

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size"
        case hiddenSize = "hidden_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case intermediateSize = "intermediate_size"
        case hiddenActivation = "hidden_activation"
        case maxPositionEmbeddings = "max_position_embeddings"
        case normEps = "norm_eps"
        case normBias = "norm_bias"
        case attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
        case localAttention = "local_attention"
        case globalAttentionEveryNLayers = "global_attn_every_n_layers"
        case layerTypes = "layer_types"
        case globalRopeTheta = "global_rope_theta"
        case localRopeTheta = "local_rope_theta"
        case ropeParameters = "rope_parameters"
    }

    struct RopeParameters: Decodable {
        let ropeTheta: Double?
        let ropeType: String?
        enum CodingKeys: String, CodingKey { case ropeTheta = "rope_theta", ropeType = "rope_type" }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        // Defaults are those of transformers' ModernBertConfig.
        hiddenActivation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? "gelu"
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 8192
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? 1e-5
        normBias = try c.decodeIfPresent(Bool.self, forKey: .normBias) ?? false
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        localAttention = try c.decodeIfPresent(Int.self, forKey: .localAttention) ?? 128

        let every = try c.decodeIfPresent(Int.self, forKey: .globalAttentionEveryNLayers) ?? 3
        if let types = try c.decodeIfPresent([String].self, forKey: .layerTypes) {
            globalLayers = types.map { $0 == "full_attention" }
        } else {
            globalLayers = (0..<layerCount).map { $0 % max(every, 1) == 0 }
        }

        globalRopeTheta = try c.decodeIfPresent(Double.self, forKey: .globalRopeTheta) ?? 160_000
        localRopeTheta = try c.decodeIfPresent(Double.self, forKey: .localRopeTheta) ?? 10_000
        if let rope = try? c.decodeIfPresent([String: RopeParameters?].self, forKey: .ropeParameters) {
            if let full = rope["full_attention"] ?? nil, let theta = full.ropeTheta { globalRopeTheta = theta }
            if let sliding = rope["sliding_attention"] ?? nil, let theta = sliding.ropeTheta { localRopeTheta = theta }
            for case let parameters? in rope.values where (parameters.ropeType ?? "default") != "default" {
                throw DecodingError.dataCorruptedError(forKey: .ropeParameters, in: c, debugDescription: "rope_type '\(parameters.ropeType!)' is not supported (only 'default')")
            }
        }
    }

    var headDim: Int { hiddenSize / headCount }
}

/// Decodes a configuration file, turning decoding errors into one sentence naming the file and field.
func decodeJSON<T: Decodable>(_ type: T.Type, path: String) throws -> T {
    guard FileManager.default.fileExists(atPath: path) else {
        throw PlaidError.missingFile(path: path, hint: "A model folder needs this file (sentence-transformers/PyLate layout).")
    }
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    do {
        return try JSONDecoder().decode(type, from: data)
    } catch let DecodingError.keyNotFound(key, _) {
        throw PlaidError.invalidInput(file: path, detail: "the field '\(key.stringValue)' is missing")
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw PlaidError.invalidInput(file: path, detail: "the field '\(field)' has the wrong type (\(context.debugDescription))")
    } catch let DecodingError.dataCorrupted(context) {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw PlaidError.invalidInput(file: path, detail: field.isEmpty ? "not valid JSON" : "field '\(field)': \(context.debugDescription)")
    }
}
