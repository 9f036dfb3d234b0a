import Foundation
import PlaidCore

/// A codebook trained once and shared by segments built anywhere: the first step of a build
/// spread over machines (`plaid codebook train`), read by `plaid segment build` and by
/// `plaid build --codebook`. Segments coded with one codebook give scores that compare, so they
/// can be attached to one index (`IndexWriter.attach`) or served as shards of one.
///
/// On disk a codebook is an index of no documents: a manifest naming the codebook and its
/// centroids file. `plaid info` reads it, and the commit machinery writes it. Any index serves as
/// a codebook too: a segment built against an index's codebook attaches to that index.
public struct SharedCodebook: Sendable {
    public let path: String
    public let codebook: Codebook
    /// `[centroidCount, dim]`, widened from the float16 file.
    let centroids: [Float]
    /// Whether segments coded with it store their documents' text, and how.
    public let storedText: StoredTextSettings?

    /// Opens the codebook (or the index) at `path`, checking the centroids' checksum: they decide every code.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(IndexComponent.manifest.fileName)) else {
            throw PlaidError.invalidArgument("\(path) is not a codebook: it has no \(IndexComponent.manifest.fileName); give the directory plaid codebook train wrote (or an index)")
        }
        // The manifest and the centroids only: an index's segments are not needed for its codebook.
        let (manifest, version) = try CompressedIndex.readCommit(path: path, verifyChecksums: true)
        let book = manifest.codebook
        guard version == Manifest.formatVersion, book.isTrained else {
            throw PlaidError.refused("\(path) has no trained codebook (an index created empty, or one of format version 1); train one with plaid codebook train")
        }
        let buckets = 1 << max(0, min(book.nbits, 8))
        guard (8...IndexBuilder.maximumDimension).contains(book.dim), book.dim % 8 == 0, ResidualCodec.supportedBits.contains(book.nbits),
              book.bucketCutoffs.count == buckets - 1, book.bucketWeights.count == buckets, book.centroidCount <= 1 << 24 else {
            throw PlaidError.corruptIndex(file: (path as NSString).appendingPathComponent(IndexComponent.manifest.fileName),
                                          detail: "the codebook fields are inconsistent (dim \(book.dim), nbits \(book.nbits), \(book.centroidCount) centroids)")
        }
        centroids = try IndexStorage.readCentroids(path: (path as NSString).appendingPathComponent(book.centroidsFile),
                                                   count: book.centroidCount, dim: book.dim, verifyChecksum: true)
        self.path = path
        codebook = book
        storedText = manifest.storedText
    }

    /// The identity every segment coded with this codebook records (`Codebook.identity`).
    public var identity: String { codebook.identity(centroids: centroids, listCount: codebook.centroidCount) }

    var quantizer: CoarseQuantizer { CoarseQuantizer(centroids: centroids, dim: codebook.dim, recheckDistance: codebook.outlierDistance) }
    var codec: ResidualCodec {
        ResidualCodec(dim: codebook.dim, nbits: codebook.nbits, cutoffs: codebook.bucketCutoffs, weights: codebook.bucketWeights)
    }

    /// Trains a codebook on `source` and writes it at `path` (atomically; an existing one only
    /// with `overwrite`): the very centroids and residual codec `IndexBuilder.build` would train on
    /// `source` with `parameters`, seeded. `source` is usually a sample of the corpus; the centroid
    /// count then follows the sample's tokens unless `parameters.kmeans.centroids` gives the
    /// corpus's (`KMeansParameters.centroidCount(embeddings:)` of its token count).
    /// `parameters.storedText` is recorded: segments coded with the codebook then store text.
    @discardableResult
    public static func train(on source: DocumentEmbeddingSource, at path: String, parameters: BuildParameters = BuildParameters(),
                             overwrite: Bool = false, showProgress: Bool = false) throws -> SharedCodebook {
        guard ResidualCodec.supportedBits.contains(parameters.nbits) else {
            throw PlaidError.invalidArgument("nbits must be 1, 2 or 4 (got \(parameters.nbits))")
        }
        guard source.tokenCount > 0 else {
            throw PlaidError.invalidInput(file: source.sourceName, detail: "holds no documents; there is nothing to train a codebook on")
        }
        try AtomicDirectory.create(at: path, overwrite: overwrite) { directory in
            let (codebook, centroids) = try CodebookTrainer(parameters: parameters).train(on: source, showProgress: showProgress)
            try IndexBuilder.writeIndexWithoutSegments(directory: directory, codebook: codebook, centroids: centroids,
                                                       storedText: parameters.storedText)
        }
        return try SharedCodebook(path: path)
    }
}
