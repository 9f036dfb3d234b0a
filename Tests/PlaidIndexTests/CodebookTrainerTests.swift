import XCTest
import PlaidCore
@testable import PlaidIndex

/// The one codebook trainer, as a build and a writer use it.
final class CodebookTrainerTests: XCTestCase {
    private var directory = ""

    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// A build and the first batch of an index created empty with the same settings give the same
    /// codebook record and the same centroids, bit for bit; only the centroids file's name (the
    /// generation of the commit that wrote it) differs.
    func testABuildAndTheFirstBatchOfAnEmptyIndexTrainTheSameCodebook() throws {
        let (_, embeddings) = try smallCorpus(documents: 200, tokens: 8...24, dim: 32, seed: 4, in: directory)
        let parameters = BuildParameters(nbits: 2, kmeans: KMeansParameters(iterations: 3, seed: 11))
        _ = try IndexBuilder.build(from: embeddings, at: path("built"), parameters: parameters)
        try IndexBuilder.createEmpty(at: path("empty"), dim: 32, parameters: parameters)
        let writer = try IndexWriter(path: path("empty"))
        try writer.add(embeddings)
        try writer.commit()
        writer.close()
        let built = try CompressedIndex(path: path("built")), trained = try CompressedIndex(path: path("empty"))
        var book = trained.codebook
        XCTAssertEqual(book.centroidsFile, "centroids-2.plaid")
        book.centroidsFile = built.codebook.centroidsFile
        XCTAssertEqual(book, built.codebook)
        XCTAssertEqual(trained.quantizer.centroids, built.quantizer.centroids)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("empty/centroids-2.plaid"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("built/centroids-1.plaid"))))
    }

    /// Growth appends centroids for a batch far from the codebook (in dimensions its training
    /// never saw) and none for one drawn like the training; the same batch grows the same
    /// centroids again.
    func testGrowthAppendsCentroidsForOutliersOnlyAndIsSeeded() throws {
        let home = try batchInDimensions(200, dims: 0..<16, seed: 1)
        let (codebook, centroids) = try CodebookTrainer(parameters: BuildParameters(kmeans: KMeansParameters(centroids: 16, sampleSize: 2000)))
            .train(on: home, showProgress: false)
        XCTAssertEqual(codebook.tokensPerCentroid, 200)
        let quantizer = CoarseQuantizer(centroids: centroids, dim: 32)
        let codec = ResidualCodec(dim: 32, nbits: codebook.nbits, cutoffs: codebook.bucketCutoffs, weights: codebook.bucketWeights)
        func grow(_ batch: DocumentEmbeddingSource) throws -> CodebookGrowth {
            try CodebookTrainer.grow(codebook, quantizer: quantizer, codec: codec, for: batch, chunkTokens: 256, seedOffset: 3)
        }
        let familiar = try grow(try batchInDimensions(200, dims: 0..<16, seed: 2))
        XCTAssertTrue(familiar.centroids.isEmpty)
        XCTAssertLessThan(familiar.outlierTokens, 200)
        XCTAssertEqual(familiar.codes?.count, 200 * 16, "the pass's codes are kept when nothing grows")
        let foreign = try batchInDimensions(64, dims: 16..<32, seed: 3)
        let grown = try grow(foreign)
        XCTAssertEqual(grown.outlierTokens, 64 * 16, "every foreign token is an outlier")
        XCTAssertEqual(grown.centroids.count, 64 * 16 / 200 * 32, "one centroid per tokensPerCentroid outliers")
        XCTAssertNil(grown.codes, "codes against the old centroids are not final once centroids are appended")
        XCTAssertEqual(try grow(foreign).centroids, grown.centroids)
    }
}
