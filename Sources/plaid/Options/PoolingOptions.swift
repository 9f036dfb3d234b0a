import ArgumentParser
import PlaidCore

/// `--pool-factor`, for the commands that encode documents (encode, build, add).
struct PoolingOptions: ParsableArguments {
    @Option(help: "Pool each document's token vectors to about 1/N of them, as PyLate's pool_factor does (the first token kept; Ward clustering on cosine distance; cluster means). 1 keeps every vector; queries are never pooled.")
    var poolFactor: Int = 1

    func validate() throws {
        guard poolFactor >= 1 else { throw ValidationError("--pool-factor must be at least 1 (1 keeps every vector), not \(poolFactor).") }
    }

    /// For build and add: pooling applies to texts being encoded, not to `--embeddings`.
    func validate(embeddingsGiven: Bool) throws {
        if embeddingsGiven && poolFactor > 1 {
            throw ValidationError("--pool-factor goes with --collection: it pools vectors as texts are encoded (embeddings were encoded already; pool them with plaid encode --pool-factor).")
        }
    }

    /// `encoder` itself, or it wrapped to pool documents.
    func applied(to encoder: TextEncoder) -> TextEncoder { PooledEncoder.pooling(encoder, factor: poolFactor) }
}
