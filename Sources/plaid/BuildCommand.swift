import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a compressed PLAID index from document token embeddings.",
        discussion: """
        Reads doc_embeddings.npy, doclens.npy and doc_ids.json from --embeddings, trains k-means \
        centroids on a sample, encodes every token's residual in --nbits bits per dimension, and \
        writes the index directory atomically.
        """)

    @Option(help: "Directory holding doc_embeddings.npy, doclens.npy and doc_ids.json.")
    var embeddings: String

    @OptionGroup var index: IndexOptions
    @OptionGroup var build: BuildOptions

    func validate() throws { try build.validate() }

    func run() throws {
        try runReportingErrors {
            let documents = try DocumentEmbeddings(directory: embeddings)
            let summary = try build.build(from: documents, at: index.index)
            printBuildSummary(summary, path: index.index)
        }
    }
}

/// The index directory option shared by several commands.
struct IndexOptions: ParsableArguments {
    @Option(help: "Index directory.")
    var index: String
}

/// Options of an index build, shared by `build` and `eval`.
struct BuildOptions: ParsableArguments {
    @Option(help: "Bits per dimension of the residual codes: 1, 2 or 4.")
    var nbits: Int = 2

    @Option(help: "Number of k-means centroids (default: 2^floor(log2(16·√tokens))).")
    var centroids: Int?

    @Option(help: "Seed of sampling and k-means; the same input and seed give identical index files.")
    var seed: UInt64 = 42

    @Option(help: "k-means iterations.")
    var kmeansIterations: Int = 4

    @Option(help: "Token vectors sampled for k-means (default: 48 per centroid).")
    var sampleSize: Int?

    @Option(help: "Token vectors processed per step of the streaming pass; peak memory grows with it.")
    var chunkTokens: Int = 1 << 16

    @Flag(help: "Replace an existing index at the path (only once the new one is complete).")
    var overwrite = false

    func validate() throws {
        guard [1, 2, 4].contains(nbits) else { throw ValidationError("--nbits must be 1, 2 or 4, not \(nbits).") }
        if let centroids, centroids < 1 { throw ValidationError("--centroids must be at least 1.") }
        guard kmeansIterations >= 0 else { throw ValidationError("--kmeans-iterations cannot be negative.") }
        if let sampleSize, sampleSize < 1 { throw ValidationError("--sample-size must be at least 1.") }
        guard chunkTokens >= 1 else { throw ValidationError("--chunk-tokens must be at least 1.") }
    }

    var parameters: BuildParameters {
        BuildParameters(nbits: nbits, kmeans: KMeansParameters(centroids: centroids, iterations: kmeansIterations,
                                                               seed: seed, sampleSize: sampleSize),
                        chunkTokens: chunkTokens)
    }

    func build(from documents: DocumentEmbeddings, at path: String) throws -> BuildSummary {
        try IndexBuilder.build(from: documents, at: path, parameters: parameters, overwrite: overwrite, showProgress: true)
    }
}

func printBuildSummary(_ summary: BuildSummary, path: String) {
    let m = summary.metadata
    printError(String(format: "built %@: %d documents, %d tokens, %d centroids, %d bits, %.1f MB, %.2f bytes/token, %.1f s",
                      path, m.documentCount, m.tokenCount, m.centroidCount, m.nbits,
                      Double(summary.bytesOnDisk) / 1e6, summary.bytesPerToken, summary.seconds))
}

/// Runs a command body, turning the toolkit's errors into one clear sentence and a non-zero exit.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as PlaidError {
        printError("error: \(error.description)")
        throw ExitCode.failure
    }
}
