import Foundation
import PlaidCore
import PlaidKernels

/// BERT encoder (transformers `BertModel`): word + absolute position + token-type embeddings
/// and LayerNorm, then post-norm blocks of self-attention and a GELU feed-forward network.
/// Runs in float32 over packed sequences (no padding); the dense layers are OpenBLAS sgemm.
final class BertModel: TransformerBackbone, @unchecked Sendable {
    struct Embeddings {
        let words: FloatStorage          // [vocabulary, hidden]
        let positions: FloatStorage      // [maxPositionEmbeddings, hidden]
        let tokenTypes: FloatStorage     // [typeVocabulary, hidden]; every token here has type 0
        let norm: LayerNorm
    }

    struct Layer {
        /// Query, key and value projections stacked into one [3·hidden, hidden] matrix.
        let queryKeyValue: Linear
        let attentionOutput: Linear
        let attentionNorm: LayerNorm
        let intermediate: Linear
        let output: Linear
        let outputNorm: LayerNorm
    }

    let configuration: BertConfiguration
    let activation: Activation
    let embeddings: Embeddings
    let layers: [Layer]

    init(configuration: BertConfiguration, activation: Activation, embeddings: Embeddings, layers: [Layer]) {
        self.configuration = configuration
        self.activation = activation
        self.embeddings = embeddings
        self.layers = layers
    }

    var hiddenSize: Int { configuration.hiddenSize }
    var vocabularySize: Int { configuration.vocabularySize }
    var maximumSequenceLength: Int? { configuration.maxPositionEmbeddings }

    func forward(_ batch: PackedSequences, threads: Int) -> FloatBuffer {
        let tokens = batch.tokenCount
        let hidden = configuration.hiddenSize
        let intermediate = configuration.intermediateSize
        let hiddenStates = FloatBuffer(count: tokens * hidden)
        let qkv = FloatBuffer(count: tokens * 3 * hidden)
        let context = FloatBuffer(count: tokens * hidden)
        let scratch = MatmulScratch()
        let wide = FloatBuffer(count: tokens * intermediate)
        embed(batch, into: hiddenStates.pointer, threads: threads)
        let x = hiddenStates.pointer
        for layer in layers {
            layer.queryKeyValue.apply(x, rows: tokens, into: qkv.pointer, threads: threads, scratch: scratch)
            PackedAttention.run(qkv: qkv.pointer, context: context.pointer, batch: batch,
                                heads: configuration.headCount, headDim: configuration.headDim, threads: threads)
            // x = LayerNorm(context·Woᵀ + b + x); the product reuses the qkv buffer.
            layer.attentionOutput.multiply(context.pointer, rows: tokens, into: qkv.pointer, threads: threads, scratch: scratch)
            residualNorm(qkv.pointer, bias: layer.attentionOutput.bias, into: x, norm: layer.attentionNorm, rows: tokens, threads: threads)
            layer.intermediate.applyGELU(x, rows: tokens, into: wide.pointer, threads: threads, scratch: scratch, tanh: activation == .geluTanh)
            layer.output.multiply(wide.pointer, rows: tokens, into: qkv.pointer, threads: threads, scratch: scratch)
            residualNorm(qkv.pointer, bias: layer.output.bias, into: x, norm: layer.outputNorm, rows: tokens, threads: threads)
        }
        return hiddenStates
    }

    /// residual = LayerNorm(x + bias + residual), row-parallel.
    private func residualNorm(_ x: UnsafePointer<Float>, bias: FloatStorage?, into residual: UnsafeMutablePointer<Float>,
                              norm: LayerNorm, rows: Int, threads: Int) {
        let size = norm.size
        RowParallel.run(rows: rows, threads: threads) { start, count in
            plaid_enc_residual_layer_norm(x + start * size, bias?.pointer, residual + start * size, count, size,
                                          norm.weight.pointer, norm.bias?.pointer, norm.eps)
        }
    }

    /// hidden[t] = LayerNorm(word[id_t] + position[p_t] + tokenType[0]), p_t counted from each sequence's start.
    private func embed(_ batch: PackedSequences, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let hidden = configuration.hiddenSize
        let words = embeddings.words.pointer, positions = embeddings.positions.pointer
        let tokenType = embeddings.tokenTypes.pointer
        batch.tokenIDs.withUnsafeBufferPointer { ids in
            Parallel.forEach(batch.sequenceCount, threads: threads) { s in
                let start = batch.offsets[s]
                for p in 0..<(batch.offsets[s + 1] - start) {
                    let row = out + (start + p) * hidden
                    let word = words + Int(ids[start + p]) * hidden
                    let position = positions + p * hidden
                    for c in 0..<hidden { row[c] = word[c] + tokenType[c] + position[c] }
                }
            }
        }
        embeddings.norm.apply(out, rows: batch.tokenCount, into: out, threads: threads)
    }
}
