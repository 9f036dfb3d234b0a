import ArgumentParser
import PlaidCore
import PlaidIndex

/// Options of an index build, shared by `build` and `eval`.
struct BuildOptions: ParsableArguments {
    @Option(help: "Bits per dimension of the residual codes: 1, 2 or 4 (default 2).")
    var nbits: Int?

    @Option(help: "Number of k-means centroids (default: 2^floor(log2(16·√tokens)); at most one per sampled vector).")
    var centroids: Int?

    @Option(help: "Seed of sampling and k-means (default 42); the same input and seed give identical index files on the same machine.")
    var seed: UInt64?

    @Option(help: "k-means iterations (default 4).")
    var kmeansIterations: Int?

    @Option(help: "Token vectors sampled for k-means (default: 48 per centroid, at most 1 GiB of vectors).")
    var sampleSize: Int?

    @Option(help: "Token vectors processed per step of the streaming pass; peak memory grows with it.")
    var chunkTokens: Int = 1 << 16

    @Flag(help: "Replace an existing index at the path (only once the new one is complete).")
    var overwrite = false

    @Flag(help: "Keep each document's title and text in the index, with a full-text (SQLite FTS5) table, for --mode bm25 and hybrid. Texts come from --collection.")
    var storeText = false

    @Option(help: "With --store-text: the FTS5 tokenizer, such as 'unicode61 remove_diacritics 2' (the default) or 'porter unicode61' (English stemming).")
    var ftsTokenizer: String?

    func validate() throws {
        if let nbits, ![1, 2, 4].contains(nbits) { throw ValidationError("--nbits must be 1, 2 or 4, not \(nbits).") }
        if let centroids, centroids < 1 { throw ValidationError("--centroids must be at least 1.") }
        if let kmeansIterations, !(0...KMeansParameters.maximumIterations).contains(kmeansIterations) {
            throw ValidationError("--kmeans-iterations must be between 0 and \(KMeansParameters.maximumIterations), not \(kmeansIterations).")
        }
        if let sampleSize, sampleSize < 1 { throw ValidationError("--sample-size must be at least 1.") }
        guard chunkTokens >= 1 else { throw ValidationError("--chunk-tokens must be at least 1.") }
        if ftsTokenizer != nil && !storeText { throw ValidationError("--fts-tokenizer goes with --store-text.") }
        _ = try storedText
    }

    /// The stored-text settings asked for (nil without --store-text); a tokenizer FTS5 refuses is an error.
    var storedText: StoredTextSettings? {
        get throws { try storedTextSettings(storeText: storeText, tokenizer: ftsTokenizer) }
    }

    /// Whether any option that only training uses was given (with `--codebook` they come from the codebook).
    var trainingOptionGiven: Bool {
        nbits != nil || centroids != nil || seed != nil || kmeansIterations != nil || sampleSize != nil || storeText || ftsTokenizer != nil
    }

    /// The build's parameters (`validate()` has checked the tokenizer).
    var parameters: BuildParameters {
        let defaults = BuildParameters()
        return BuildParameters(nbits: nbits ?? defaults.nbits,
                               kmeans: KMeansParameters(centroids: centroids, iterations: kmeansIterations ?? defaults.kmeans.iterations,
                                                        seed: seed ?? defaults.kmeans.seed, sampleSize: sampleSize),
                               chunkTokens: chunkTokens, storedText: try? storedText)
    }

    /// Builds, printing the summary, and warns when the index has fewer centroids than asked for.
    func build(from documents: DocumentEmbeddingSource, metadata: BatchMetadata = [:], texts: BatchTexts = [:], at path: String) throws -> BuildSummary {
        let summary = try IndexBuilder.build(from: documents, at: path, parameters: parameters, metadata: metadata, texts: texts,
                                             overwrite: overwrite, showProgress: true)
        report(summary, path: path, tokens: documents.tokenCount)
        return summary
    }

    /// The summary line, and a warning when --centroids could not be met.
    func report(_ summary: BuildSummary, path: String, tokens: Int) {
        printBuildSummary(summary, path: path)
        let made = summary.manifest.codebook.centroidCount
        if let centroids, centroids != made {
            printWarning("--centroids \(centroids) became \(made): k-means needs a sampled vector per centroid, and the sample holds \(summary.manifest.codebook.kmeansSampleSize) of the \(tokens) token vectors (raise --sample-size, up to the token count, for more)")
        }
    }
}

/// The settings of `--store-text` and `--fts-tokenizer`: nil without --store-text; a tokenizer
/// FTS5 refuses is a mistake in the options.
func storedTextSettings(storeText: Bool, tokenizer: String?) throws -> StoredTextSettings? {
    guard storeText else { return nil }
    do {
        return try StoredTextSettings(tokenizer: tokenizer ?? StoredTextSettings.defaultTokenizer)
    } catch let error as PlaidError {
        throw ValidationError("--fts-tokenizer: \(error.description)")
    }
}

/// The texts of `file` for the documents of `ids`, with a warning naming the documents it gives
/// no text (they store an empty one) and the ids it has that are not documents.
func storedTexts(file: String, for ids: [String]) throws -> BatchTexts {
    let texts = try StoredTextReader.fromCollection(path: file)
    let wanted = Set(ids.map(ByteExactID.init))
    let missing = ids.filter { texts[ByteExactID($0)] == nil }, unknown = texts.keys.filter { !wanted.contains($0) }.map(\.id)
    func some(_ list: [String]) -> String { list.prefix(3).map { "\"\(visible($0))\"" }.joined(separator: ", ") + (list.count > 3 ? ", …" : "") }
    if !missing.isEmpty {
        printWarning("\(file) has no text for \(missing.count) of the \(ids.count) documents (\(some(missing))): they store an empty text, and BM25 will not find them")
    }
    if !unknown.isEmpty { printWarning("\(file) has \(unknown.count) ids that are not among the documents (\(some(unknown))); their texts are not stored") }
    return texts
}

func printBuildSummary(_ summary: BuildSummary, path: String) {
    let m = summary.manifest
    printStatus(String(format: "built %@: %d documents, %d tokens, %d centroids, %d bits, %.1f MB, %.2f bytes/token, %.1f s",
                       path, m.documentCount, m.tokenCount, m.codebook.centroidCount, m.codebook.nbits,
                       Double(summary.bytesOnDisk) / 1e6, summary.bytesPerToken, summary.seconds))
}
