import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a compressed PLAID index from a text collection or from token embeddings.",
        discussion: """
        Exactly one of --collection and --embeddings is required. With --collection, encodes the texts \
        (BEIR corpus.jsonl, JSONL with id and text, or TSV id<TAB>text; .zst-compressed too) with --model in \
        document mode first. With --embeddings, reads doc_embeddings.npy, doclens.npy and doc_ids.json \
        (and the model.json `plaid encode` writes, which the index then records). Then trains k-means \
        centroids on a sample, encodes every token's residual in --nbits bits per dimension, and writes \
        the index directory atomically.

        With --codebook CB (plaid codebook train, or any index), nothing is trained: the documents are \
        coded with that codebook, its bits and text settings, exactly as plaid segment build codes them, \
        and without --embeddings or --collection the index is created with no documents, for plaid attach.
        """)

    @Option(help: "A shared codebook (plaid codebook train) or index whose codebook to code with, instead of training one.")
    var codebook: String?

    @Option(help: "Directory holding doc_embeddings.npy, doclens.npy and doc_ids.json (this or --collection).")
    var embeddings: String?

    @Option(help: "Text collection to encode and index: .jsonl or .tsv, optionally .zst (this or --embeddings).")
    var collection: String?

    @Option(help: "With --collection: keep the document embeddings in this directory (the layout --embeddings reads).")
    var saveEmbeddings: String?

    @Flag(help: "With --save-embeddings: store the kept embeddings as float16.")
    var float16 = false

    @Option(help: "With --embeddings: documents' metadata, a JSONL file of objects with \"id\" and the fields (with --collection, each line's metadata and extra fields are used).")
    var metadata: String?

    @Option(help: "With --embeddings and --store-text: the text collection the embeddings were encoded from, whose titles and texts the index stores.")
    var texts: String?

    @OptionGroup var index: IndexOptions
    @OptionGroup var build: BuildOptions
    @OptionGroup var encoder: ModelOptions
    @OptionGroup var pooling: PoolingOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try build.validate()
        if codebook != nil {
            if build.trainingOptionGiven {
                throw ValidationError("--nbits, --centroids, --seed, --kmeans-iterations, --sample-size, --store-text and --fts-tokenizer go with training; with --codebook they come from the codebook.")
            }
            if embeddings != nil && collection != nil { throw ValidationError("Give at most one of --embeddings and --collection with --codebook.") }
            if saveEmbeddings != nil { throw ValidationError("--save-embeddings does not go with --codebook; encode with plaid encode to keep the vectors.") }
            if embeddings == nil && collection == nil && (metadata != nil || texts != nil) {
                throw ValidationError("--metadata and --texts go with --embeddings; an index created with no documents has none.")
            }
        } else if (embeddings == nil) == (collection == nil) {
            throw ValidationError("Give exactly one of --embeddings DIR (token embeddings) and --collection FILE (texts to encode).")
        }
        if saveEmbeddings != nil && collection == nil { throw ValidationError("--save-embeddings goes with --collection.") }
        if float16 && saveEmbeddings == nil { throw ValidationError("--float16 goes with --save-embeddings: only kept embeddings are stored.") }
        try pooling.validate(embeddingsGiven: embeddings != nil)
        if embeddings != nil && encoder.isGiven {
            throw ValidationError("--model goes with --collection; embeddings were encoded already (plaid encode records their model in model.json).")
        }
        if let collection, !FileManager.default.fileExists(atPath: collection) { throw ValidationError("--collection \(collection) does not exist.") }
        if metadata != nil && collection != nil { throw ValidationError("--metadata goes with --embeddings; a collection's metadata comes from its own lines.") }
        if build.storeText && collection == nil && texts == nil && codebook == nil {
            throw ValidationError("--store-text with --embeddings needs --texts FILE, the collection they were encoded from: embeddings carry no text.")
        }
        if texts != nil && (embeddings == nil || (!build.storeText && codebook == nil)) {
            throw ValidationError("--texts goes with --embeddings and --store-text (or a --codebook that stores text).")
        }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            if let codebook {
                try buildWithCodebook(try SharedCodebook(path: codebook))
                return
            }
            if let embeddings {
                let documents = try DocumentEmbeddings(directory: embeddings)
                let fields = try batchMetadata(file: metadata, collection: nil) { documents.ids }
                let stored = try texts.map { try storedTexts(file: $0, for: documents.ids) } ?? [:]
                _ = try build.build(from: documents, metadata: fields, texts: stored, at: index.index)
                return
            }
            let summary = try IndexBuilder.build(collection: collection!, encoder: pooling.applied(to: try encoder.loadEncoder()), at: index.index,
                                                 parameters: build.parameters, overwrite: build.overwrite,
                                                 keepEmbeddingsAt: saveEmbeddings, float16: float16,
                                                 batchSize: encoder.batchSize, showProgress: true)
            build.report(summary.build, path: index.index, tokens: summary.encoding.vectors)
        }
    }

    /// `--codebook`: the documents coded with a shared codebook, or an index of none to attach to.
    private func buildWithCodebook(_ shared: SharedCodebook) throws {
        if let embeddings {
            try requireTexts(texts, for: shared)
            let documents = try DocumentEmbeddings(directory: embeddings)
            let fields = try batchMetadata(file: metadata, collection: nil) { documents.ids }
            let stored = try texts.map { try storedTexts(file: $0, for: documents.ids) } ?? [:]
            let summary = try IndexBuilder.build(from: documents, at: index.index, codebook: shared, metadata: fields, texts: stored,
                                                 chunkTokens: build.chunkTokens, overwrite: build.overwrite, showProgress: true)
            printBuildSummary(summary, path: index.index)
        } else if let collection {
            let summary = try IndexBuilder.build(collection: collection, encoder: pooling.applied(to: try encoder.loadEncoder()), at: index.index,
                                                 codebook: shared, chunkTokens: build.chunkTokens, overwrite: build.overwrite,
                                                 batchSize: encoder.batchSize, showProgress: true)
            printBuildSummary(summary.build, path: index.index)
        } else {
            try IndexBuilder.create(at: index.index, codebook: shared, overwrite: build.overwrite)
            printStatus("created \(index.index) with the codebook of \(shared.path) (\(shared.codebook.centroidCount) centroids) and no documents; add segments with plaid attach")
        }
        if let outliers = (try? CompressedIndex(path: index.index, verifyChecksums: false))?.manifest.outliersCodedWithoutGrowth, outliers > 0 {
            printStatus("\(outliers) tokens lay beyond the codebook's outlier distance (coded without growing it)")
        }
    }
}
