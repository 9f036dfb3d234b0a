import Foundation
import PlaidCore

// The one place that knows checkpoint tensor names. Names are the normalised ones of
// `Checkpoint` (no `bert.`/`model.` prefix, LayerNorm `weight`/`bias`).

/// Tensors a checkpoint may carry that are not parameters of the encoder: buffers saved with the
/// state dict, and the heads of pre-training classes (masked-LM, pooler use), which sentence-
/// transformers also drops when it loads the backbone.
enum IgnorableTensors {
    static func bert(_ name: String) -> Bool {
        name == "embeddings.position_ids" || name.hasPrefix("cls.")
    }

    static func modernBert(_ name: String) -> Bool {
        name.hasPrefix("head.") || name.hasPrefix("decoder.")
    }
}

extension Checkpoint {
    func linear(_ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool) throws -> Linear {
        Linear(weight: try tensor("\(prefix).weight", shape: [outFeatures, inFeatures]),
               bias: bias ? try tensor("\(prefix).bias", shape: [outFeatures]) : nil,
               inFeatures: inFeatures, outFeatures: outFeatures)
    }

    func layerNorm(_ prefix: String, size: Int, bias: Bool, eps: Float) throws -> LayerNorm {
        LayerNorm(weight: try tensor("\(prefix).weight", shape: [size]),
                  bias: bias ? try tensor("\(prefix).bias", shape: [size]) : nil, eps: eps)
    }
}

/// Several linear layers over the same input as one: weights stacked row-wise, biases concatenated.
func stackedLinear(_ parts: [Linear]) -> Linear {
    let inFeatures = parts[0].inFeatures
    let outFeatures = parts.reduce(0) { $0 + $1.outFeatures }
    let weight = FloatStorage(count: outFeatures * inFeatures) { out in
        var offset = 0
        for part in parts {
            (out + offset).update(from: part.weight.pointer, count: part.weight.count)
            offset += part.weight.count
        }
    }
    var bias: FloatStorage?
    if parts.allSatisfy({ $0.bias != nil }) {
        bias = FloatStorage(count: outFeatures) { out in
            var offset = 0
            for part in parts {
                (out + offset).update(from: part.bias!.pointer, count: part.outFeatures)
                offset += part.outFeatures
            }
        }
    }
    return Linear(weight: weight, bias: bias, inFeatures: inFeatures, outFeatures: outFeatures)
}

extension BertModel {
    /// Builds the model from `checkpoint`, strictly (see `Checkpoint`).
    static func load(configuration c: BertConfiguration, checkpoint: Checkpoint, configPath: String,
                     precision: MatrixPrecision) throws -> BertModel {
        guard c.positionEmbeddingType == "absolute" else {
            throw PlaidError.invalidInput(file: configPath, detail: "position_embedding_type '\(c.positionEmbeddingType)' is not supported (only 'absolute')")
        }
        guard c.hiddenSize % c.headCount == 0 else {
            throw PlaidError.invalidInput(file: configPath, detail: "hidden_size \(c.hiddenSize) is not a multiple of num_attention_heads \(c.headCount)")
        }
        let activation = try Activation(transformersName: c.hiddenActivation, file: configPath)
        let h = c.hiddenSize
        let embeddings = BertModel.Embeddings(
            words: try checkpoint.tensor("embeddings.word_embeddings.weight", shape: [c.vocabularySize, h]),
            positions: try checkpoint.tensor("embeddings.position_embeddings.weight", shape: [c.maxPositionEmbeddings, h]),
            tokenTypes: try checkpoint.tensor("embeddings.token_type_embeddings.weight", shape: [c.typeVocabularySize, h]),
            norm: try checkpoint.layerNorm("embeddings.LayerNorm", size: h, bias: true, eps: c.layerNormEps))
        var layers: [BertModel.Layer] = []
        for i in 0..<c.layerCount {
            let p = "encoder.layer.\(i)"
            let query = try checkpoint.linear("\(p).attention.self.query", in: h, out: h, bias: true)
            let key = try checkpoint.linear("\(p).attention.self.key", in: h, out: h, bias: true)
            let value = try checkpoint.linear("\(p).attention.self.value", in: h, out: h, bias: true)
            layers.append(BertModel.Layer(
                queryKeyValue: stackedLinear([query, key, value]).using(precision),
                attentionOutput: try checkpoint.linear("\(p).attention.output.dense", in: h, out: h, bias: true).using(precision),
                attentionNorm: try checkpoint.layerNorm("\(p).attention.output.LayerNorm", size: h, bias: true, eps: c.layerNormEps),
                intermediate: try checkpoint.linear("\(p).intermediate.dense", in: h, out: c.intermediateSize, bias: true).using(precision),
                output: try checkpoint.linear("\(p).output.dense", in: c.intermediateSize, out: h, bias: true).using(precision),
                outputNorm: try checkpoint.layerNorm("\(p).output.LayerNorm", size: h, bias: true, eps: c.layerNormEps)))
        }
        // BertModel's pooler is a parameter but plays no part in token embeddings: shape-checked, unused.
        if checkpoint.contains("pooler.dense.weight") || checkpoint.contains("pooler.dense.bias") {
            _ = try checkpoint.linear("pooler.dense", in: h, out: h, bias: true)
        }
        try checkpoint.checkAllUsed(ignoring: IgnorableTensors.bert)
        return BertModel(configuration: c, activation: activation, embeddings: embeddings, layers: layers)
    }
}

extension ModernBertModel {
    /// Builds the model from `checkpoint`, strictly (see `Checkpoint`).
    static func load(configuration c: ModernBertConfiguration, checkpoint: Checkpoint, configPath: String,
                     precision: MatrixPrecision) throws -> ModernBertModel {
        guard c.hiddenSize % c.headCount == 0, c.headDim % 2 == 0 else {
            throw PlaidError.invalidInput(file: configPath, detail: "hidden_size \(c.hiddenSize) must split into num_attention_heads \(c.headCount) heads of even size")
        }
        guard c.globalLayers.count == c.layerCount else {
            throw PlaidError.invalidInput(file: configPath, detail: "layer_types lists \(c.globalLayers.count) layers but num_hidden_layers is \(c.layerCount)")
        }
        let activation = try Activation(transformersName: c.hiddenActivation, file: configPath)
        let h = c.hiddenSize, i = c.intermediateSize
        let tokenEmbeddings = try checkpoint.tensor("embeddings.tok_embeddings.weight", shape: [c.vocabularySize, h])
        let embeddingNorm = try checkpoint.layerNorm("embeddings.norm", size: h, bias: c.normBias, eps: c.normEps)
        var layers: [ModernBertModel.Layer] = []
        for l in 0..<c.layerCount {
            let p = "layers.\(l)"
            layers.append(ModernBertModel.Layer(
                attentionNorm: l == 0 ? nil : try checkpoint.layerNorm("\(p).attn_norm", size: h, bias: c.normBias, eps: c.normEps),
                queryKeyValue: try checkpoint.linear("\(p).attn.Wqkv", in: h, out: 3 * h, bias: c.attentionBias).using(precision),
                attentionOutput: try checkpoint.linear("\(p).attn.Wo", in: h, out: h, bias: c.attentionBias).using(precision),
                mlpNorm: try checkpoint.layerNorm("\(p).mlp_norm", size: h, bias: c.normBias, eps: c.normEps),
                mlpInput: try checkpoint.linear("\(p).mlp.Wi", in: h, out: 2 * i, bias: c.mlpBias).using(precision),
                mlpOutput: try checkpoint.linear("\(p).mlp.Wo", in: i, out: h, bias: c.mlpBias).using(precision),
                isGlobal: c.globalLayers[l]))
        }
        let finalNorm = try checkpoint.layerNorm("final_norm", size: h, bias: c.normBias, eps: c.normEps)
        try checkpoint.checkAllUsed(ignoring: IgnorableTensors.modernBert)
        return ModernBertModel(configuration: c, activation: activation, tokenEmbeddings: tokenEmbeddings,
                               embeddingNorm: embeddingNorm, layers: layers, finalNorm: finalNorm)
    }
}

/// Reads `config.json` in `directory` and loads the backbone it describes from the checkpoint there.
func loadBackbone(directory: String, precision: MatrixPrecision) throws -> TransformerBackbone {
    let configPath = (directory as NSString).appendingPathComponent("config.json")
    let probe = try decodeJSON(ModelTypeProbe.self, path: configPath)
    switch probe.modelType {
    case "bert":
        let configuration = try decodeJSON(BertConfiguration.self, path: configPath)
        return try BertModel.load(configuration: configuration, checkpoint: try Checkpoint(directory: directory), configPath: configPath,
                                     precision: precision)
    case "modernbert":
        let configuration = try decodeJSON(ModernBertConfiguration.self, path: configPath)
        return try ModernBertModel.load(configuration: configuration, checkpoint: try Checkpoint(directory: directory), configPath: configPath,
                                     precision: precision)
    default:
        throw PlaidError.invalidInput(file: configPath, detail: "model_type '\(probe.modelType)' is not supported (expected 'bert' or 'modernbert')")
    }
}
