import Foundation
import PlaidCore
import PlaidKernels

/// ModernBERT encoder (transformers `ModernBertModel`): token embeddings and LayerNorm, then
/// pre-norm blocks (layer 0 has no attention norm) whose attention uses rotary positions and is
/// global on every `global_attn_every_n_layers`-th layer and a sliding window of
/// ±local_attention/2 tokens elsewhere; GeGLU feed-forward; a final LayerNorm.
final class ModernBertModel: TransformerBackbone, @unchecked Sendable {
    struct Layer {
        /// nil on layer 0, where transformers uses Identity.
        let attentionNorm: LayerNorm?
        /// [3·hidden, hidden]: Q, K, V stacked (transformers' Wqkv).
        let queryKeyValue: Linear
        let attentionOutput: Linear
        let mlpNorm: LayerNorm
        /// [2·intermediate, hidden]: the GELU input half, then the gate half.
        let mlpInput: Linear
        let mlpOutput: Linear
        let isGlobal: Bool
    }

    let configuration: ModernBertConfiguration
    let activation: Activation
    let tokenEmbeddings: FloatStorage   // [vocabulary, hidden]
    let embeddingNorm: LayerNorm
    let layers: [Layer]
    let finalNorm: LayerNorm
    private let globalRotary: RotaryTable
    private let localRotary: RotaryTable

    /// Rotary tables cover this many positions; longer sequences are refused by the ColBERT layer.
    static let rotaryPositions = 8192

    init(configuration: ModernBertConfiguration, activation: Activation, tokenEmbeddings: FloatStorage,
         embeddingNorm: LayerNorm, layers: [Layer], finalNorm: LayerNorm) {
        self.configuration = configuration
        self.activation = activation
        self.tokenEmbeddings = tokenEmbeddings
        self.embeddingNorm = embeddingNorm
        self.layers = layers
        self.finalNorm = finalNorm
        let positions = min(configuration.maxPositionEmbeddings, ModernBertModel.rotaryPositions)
        globalRotary = RotaryTable(theta: configuration.globalRopeTheta, headDim: configuration.headDim, positions: positions)
        localRotary = RotaryTable(theta: configuration.localRopeTheta, headDim: configuration.headDim, positions: positions)
    }

    var hiddenSize: Int { configuration.hiddenSize }
    var vocabularySize: Int { configuration.vocabularySize }
    var maximumSequenceLength: Int? { min(configuration.maxPositionEmbeddings, ModernBertModel.rotaryPositions) }

    func forward(_ batch: PackedSequences, threads: Int) -> FloatBuffer {
        let tokens = batch.tokenCount
        let hidden = configuration.hiddenSize
        let intermediate = configuration.intermediateSize
        let hiddenStates = FloatBuffer(count: tokens * hidden)
        let normed = FloatBuffer(count: tokens * hidden)
        let qkv = FloatBuffer(count: tokens * 3 * hidden)
        let context = FloatBuffer(count: tokens * hidden)
        let scratch = MatmulScratch()
        let wide = FloatBuffer(count: tokens * 2 * intermediate)
        let x = hiddenStates.pointer
        let tanh: Int32 = activation == .geluTanh ? 1 : 0

        let words = tokenEmbeddings.pointer
        batch.tokenIDs.withUnsafeBufferPointer { ids in
            for t in 0..<tokens { (x + t * hidden).update(from: words + Int(ids[t]) * hidden, count: hidden) }
        }
        embeddingNorm.apply(x, rows: tokens, into: x, threads: threads)

        for layer in layers {
            var attentionInput = UnsafePointer(x)
            if let norm = layer.attentionNorm {
                norm.apply(x, rows: tokens, into: normed.pointer, threads: threads)
                attentionInput = UnsafePointer(normed.pointer)
            }
            layer.queryKeyValue.apply(attentionInput, rows: tokens, into: qkv.pointer, threads: threads, scratch: scratch)
            PackedAttention.run(qkv: qkv.pointer, context: context.pointer, batch: batch,
                                heads: configuration.headCount, headDim: configuration.headDim,
                                window: layer.isGlobal ? -1 : configuration.localAttention / 2,
                                rotary: layer.isGlobal ? globalRotary : localRotary, threads: threads)
            layer.attentionOutput.multiply(context.pointer, rows: tokens, into: normed.pointer, threads: threads, scratch: scratch)
            addResidual(normed.pointer, bias: layer.attentionOutput.bias, into: x, rows: tokens, threads: threads)

            layer.mlpNorm.apply(x, rows: tokens, into: normed.pointer, threads: threads)
            layer.mlpInput.multiply(normed.pointer, rows: tokens, into: wide.pointer, threads: threads, scratch: scratch)
            let bias = layer.mlpInput.bias
            // The GeGLU product is written over the start of `qkv`, large enough for [tokens, intermediate]
            // whenever intermediate <= 3·hidden; otherwise into its own buffer.
            let gated = intermediate <= 3 * hidden ? qkv : FloatBuffer(count: tokens * intermediate)
            RowParallel.run(rows: tokens, threads: threads) { start, count in
                plaid_enc_geglu(wide.pointer + start * 2 * intermediate, bias?.pointer,
                                gated.pointer + start * intermediate, count, intermediate, tanh)
            }
            layer.mlpOutput.multiply(gated.pointer, rows: tokens, into: normed.pointer, threads: threads, scratch: scratch)
            addResidual(normed.pointer, bias: layer.mlpOutput.bias, into: x, rows: tokens, threads: threads)
        }
        finalNorm.apply(x, rows: tokens, into: x, threads: threads)
        return hiddenStates
    }

    private func addResidual(_ y: UnsafePointer<Float>, bias: FloatStorage?, into x: UnsafeMutablePointer<Float>, rows: Int, threads: Int) {
        let hidden = configuration.hiddenSize
        RowParallel.run(rows: rows, threads: threads) { start, count in
            plaid_enc_add_residual(x + start * hidden, y + start * hidden, bias?.pointer, count, hidden)
        }
    }
}
