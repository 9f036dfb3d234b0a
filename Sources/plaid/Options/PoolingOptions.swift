import ArgumentParser
import PlaidCore

/// `--pool-factor`, for the commands that encode documents (encode, build, add).
struct PoolingOptions: ParsableArguments {
    @Option(help: "Pool each document's token vectors to about 1/N of them, as PyLate's pool_factor does (the first token kept; Ward clustering on cosine distance; cluster means). 1 keeps every vector; queries are never pooled.")
    var poolFactor: Int = 1

    func validate() throws {
        guard poolFactor >= 1 else { throw ValidationError("--pool-factor must be at least 1 (1 keeps every vector), not \(poolFactor).") }
    }

    /// `encoder` itself, or it wrapped to pool documents.
    func applied(to encoder: TextEncoder) -> TextEncoder { poolFactor > 1 ? PooledEncoder(encoder, factor: poolFactor) : encoder }
}
