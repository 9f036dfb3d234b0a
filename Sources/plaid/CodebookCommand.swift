import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

/// `plaid codebook`: the codebook that segments built on many machines share.
struct CodebookCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codebook",
        abstract: "Train the codebook that segments built anywhere share (the first step of a distributed build).",
        subcommands: [TrainCodebook.self])
}

/// `plaid codebook train`: centroids and residual codec, trained once on a sample.
struct TrainCodebook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train centroids and the residual codec on a sample, for plaid segment build and plaid build --codebook.",
        discussion: """
        Trains exactly what plaid build would on the same vectors and settings (seeded), and writes it \
        as an index of no documents at --output. Give the corpus, or a sample of it, as --embeddings DIR, \
        or a text collection as --collection FILE, of which --sample-documents N documents (drawn with \
        --seed) are encoded: encoding is the cost, and k-means needs only a sample. With a sample and no \
        --centroids, the count is the default for the whole collection's estimated tokens. --store-text \
        makes every segment coded with the codebook store its documents' text.
        """)

    @Option(help: "Directory holding doc_embeddings.npy, doclens.npy and doc_ids.json: the corpus or a sample of it (this or --collection).")
    var embeddings: String?

    @Option(help: "Text collection to sample, encode and train on: .jsonl or .tsv, optionally .zst (this or --embeddings).")
    var collection: String?

    @Option(help: "With --collection: encode only this many documents, drawn with --seed (default: all).")
    var sampleDocuments: Int?

    @Option(help: "The codebook directory to write.")
    var output: String

    @OptionGroup var build: BuildOptions
    @OptionGroup var encoder: ModelOptions
    @OptionGroup var pooling: PoolingOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try build.validate()
        guard (embeddings == nil) != (collection == nil) else {
            throw ValidationError("Give exactly one of --embeddings DIR (token embeddings) and --collection FILE (texts to encode).")
        }
        try pooling.validate(embeddingsGiven: embeddings != nil)
        if embeddings != nil && encoder.isGiven { throw ValidationError("--model goes with --collection; embeddings were encoded already.") }
        if sampleDocuments != nil && collection == nil { throw ValidationError("--sample-documents goes with --collection; sample embeddings yourself.") }
        if let sampleDocuments, sampleDocuments < 1 { throw ValidationError("--sample-documents must be at least 1.") }
        guard !output.isEmpty else { throw ValidationError("--output must name the codebook directory to write.") }
        if let collection, !FileManager.default.fileExists(atPath: collection) { throw ValidationError("--collection \(collection) does not exist.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let started = Date()
            let codebook: SharedCodebook
            if let embeddings {
                codebook = try SharedCodebook.train(on: try DocumentEmbeddings(directory: embeddings), at: output, parameters: build.parameters,
                                                    overwrite: build.overwrite, showProgress: true)
            } else {
                codebook = try SharedCodebook.train(collection: collection!, encoder: pooling.applied(to: try encoder.loadEncoder()), at: output,
                                                    parameters: build.parameters, sampleDocuments: sampleDocuments, overwrite: build.overwrite,
                                                    batchSize: encoder.batchSize, showProgress: true)
            }
            let book = codebook.codebook
            printStatus(String(format: "trained codebook %@: %d centroids, %d bits, dimension %d, on %d sampled vectors; identity %@; %.1f s",
                               output, book.centroidCount, book.nbits, book.dim, book.kmeansSampleSize, codebook.identity,
                               Date().timeIntervalSince(started)))
        }
    }
}
