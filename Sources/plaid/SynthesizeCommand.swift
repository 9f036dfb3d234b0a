import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

/// A developer command: writes a seeded synthetic corpus in the embeddings layout, for
/// benchmarks and for showing that the build's memory is bounded on corpora larger than RAM.
struct Synthesize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a seeded synthetic corpus of clustered token embeddings (for benchmarks).")

    @Option(help: "Number of documents.") var documents: Int
    @Option(help: "Embedding dimension (a multiple of 8).") var dim: Int = 128
    @Option(help: "Minimum tokens per document.") var minTokens: Int = 60
    @Option(help: "Maximum tokens per document.") var maxTokens: Int = 140
    @Option(help: "Number of queries to write to OUTPUT/queries (0 for none).") var queries: Int = 0
    @Option(help: "Seed.") var seed: UInt64 = 7
    @Flag(help: "Store the document embeddings as float16.") var float16 = false
    @Option(help: "Output directory.") var output: String

    func validate() throws {
        guard documents >= 1 else { throw ValidationError("--documents must be at least 1.") }
        guard dim > 0, dim % 8 == 0 else { throw ValidationError("--dim must be a positive multiple of 8.") }
        guard minTokens >= 1, maxTokens >= minTokens else { throw ValidationError("--min-tokens must be ≥ 1 and ≤ --max-tokens.") }
    }

    func run() throws {
        try runReportingErrors {
            let corpus = SyntheticCorpus(documents: documents, tokensPerDocument: minTokens...maxTokens, dim: dim, seed: seed)
            let tokens = try corpus.writeDocuments(to: output, elementType: float16 ? .float16 : .float32, progress: true)
            if queries > 0 { try corpus.writeQueries(count: queries, to: (output as NSString).appendingPathComponent("queries")) }
            printStatus("wrote \(documents) documents, \(tokens) tokens of dimension \(dim) to \(output)")
        }
    }
}
