import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a compressed PLAID index from a text collection or from token embeddings.",
        discussion: """
        With --collection, encodes the texts (BEIR corpus.jsonl, JSONL with id and text, or TSV \
        id<TAB>text; .zst-compressed too) with --model in document mode first. With --embeddings, reads \
        doc_embeddings.npy, doclens.npy and doc_ids.json. Then trains k-means centroids on a sample, \
        encodes every token's residual in --nbits bits per dimension, and writes the index directory \
        atomically.
        """)

    @Option(help: "Directory holding doc_embeddings.npy, doclens.npy and doc_ids.json.")
    var embeddings: String?

    @Option(help: "Text collection to encode and index: .jsonl or .tsv, optionally .zst.")
    var collection: String?

    @Option(help: "With --collection: keep the document embeddings in this directory (the layout --embeddings reads).")
    var saveEmbeddings: String?

    @Flag(help: "With --collection: store the kept embeddings as float16.")
    var float16 = false

    @OptionGroup var index: IndexOptions
    @OptionGroup var build: BuildOptions
    @OptionGroup var encoder: ModelOptions

    func validate() throws {
        try build.validate()
        guard (embeddings == nil) != (collection == nil) else {
            throw ValidationError("Give exactly one of --embeddings DIR (token embeddings) and --collection FILE (texts to encode).")
        }
        if saveEmbeddings != nil && collection == nil { throw ValidationError("--save-embeddings goes with --collection.") }
        if let collection, !FileManager.default.fileExists(atPath: collection) { throw ValidationError("--collection \(collection) does not exist.") }
    }

    func run() throws {
        try runReportingErrors {
            if let embeddings {
                let summary = try build.build(from: try DocumentEmbeddings(directory: embeddings), at: index.index)
                printBuildSummary(summary, path: index.index)
                return
            }
            // Refuse before encoding, which is the long part.
            try AtomicDirectory.checkReplaceable(index.index, overwrite: build.overwrite)
            let encoderModel = try encoder.loadEncoder()
            // Without --save-embeddings the embeddings live in a hidden directory beside the index
            // for the length of the build.
            let directory = saveEmbeddings ?? AtomicDirectory.temporaryPath(for: index.index, suffix: "embeddings")
            defer { if saveEmbeddings == nil { try? FileManager.default.removeItem(atPath: directory) } }
            let encoding = try encodeCollection(collection!, with: encoderModel, mode: .document, output: directory,
                                                float16: float16, batchSize: encoder.batchSize)
            let summary = try build.build(from: try DocumentEmbeddings(directory: directory), at: index.index)
            printError(String(format: "encoded %d documents, %d tokens in %.1f s (%.0f tokens/s)",
                              encoding.texts, encoding.tokens, encoding.seconds, encoding.tokensPerSecond))
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

    @Option(help: "Seed of sampling and k-means; the same input and seed give identical index files on the same machine.")
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
    let m = summary.manifest
    printError(String(format: "built %@: %d documents, %d tokens, %d centroids, %d bits, %.1f MB, %.2f bytes/token, %.1f s",
                      path, m.documentCount, m.tokenCount, m.codebook.centroidCount, m.codebook.nbits,
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
