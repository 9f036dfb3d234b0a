import XCTest
@testable import PlaidIndex

/// The default merge policy's decisions, on manifest records alone (no files).
final class MergePolicyTests: XCTestCase {
    private func segments(tokens: [Int], deletedTokens: [Int]? = nil) -> [SegmentInfo] {
        tokens.enumerated().map { s, count in
            SegmentInfo(name: Manifest.segmentName(s), documentCount: count, tokenCount: count, listCount: 4, codeWidth: 1,
                        deletionsFile: nil, deletedDocuments: deletedTokens?[s] ?? 0, deletedTokens: deletedTokens?[s] ?? 0,
                        metadataFile: nil, metadataChecksum: nil, metadataFields: [])
        }
    }

    private func manifest(_ segments: [SegmentInfo]) -> Manifest {
        let codebook = Codebook(dim: 8, nbits: 2, centroidCount: 4, centroidsFile: "centroids-1.plaid", bucketCutoffs: [], bucketWeights: [],
                                kmeansIterations: 4, kmeansSeed: 42, kmeansSampleSize: 0, averageResidual: 0, outlierDistance: nil,
                                tokensPerCentroid: 1, trainedCentroidCount: 4, createdBy: "test", centroidGroupEnds: nil, model: nil)
        return Manifest(formatVersion: Manifest.formatVersion, generation: 1, codebook: codebook, segments: segments,
                        nextSegmentNumber: segments.count, metadataFields: [], writtenBy: "test")
    }

    /// Compaction once deleted tokens are more than the threshold's share of the stored tokens, never at it.
    func testCompactsOnlyPastTheThreshold() {
        let policy = AdjacentMergePolicy()
        XCTAssertFalse(policy.shouldCompact(manifest(segments(tokens: [60, 40], deletedTokens: [20, 0]))), "exactly 20%")
        XCTAssertTrue(policy.shouldCompact(manifest(segments(tokens: [60, 40], deletedTokens: [21, 0]))))
        XCTAssertFalse(policy.shouldCompact(manifest([])), "an empty index")
        XCTAssertFalse(AdjacentMergePolicy(compactionThreshold: nil).shouldCompact(manifest(segments(tokens: [10], deletedTokens: [9]))))
    }

    /// Past `maxSegments`, the window of `segmentsPerMerge` adjacent segments storing the fewest
    /// tokens merges, the latest among equals; at or below it, nothing.
    func testMergesTheAdjacentWindowOfFewestTokens() {
        let policy = AdjacentMergePolicy(maxSegments: 4, segmentsPerMerge: 3)
        XCTAssertNil(policy.nextMerge(of: segments(tokens: [5, 5, 5, 5])))
        XCTAssertEqual(policy.nextMerge(of: segments(tokens: [100, 1, 2, 3, 50])), 1..<4)
        XCTAssertEqual(policy.nextMerge(of: segments(tokens: [1, 1, 1, 1, 1, 1])), 3..<6, "the latest of equal windows")
        XCTAssertEqual(AdjacentMergePolicy(maxSegments: 1, segmentsPerMerge: 1).nextMerge(of: segments(tokens: [7, 1, 1])), 1..<3,
                       "a merge takes at least two segments")
        XCTAssertEqual(AdjacentMergePolicy(maxSegments: 0, segmentsPerMerge: 8).nextMerge(of: segments(tokens: [7, 1])), 0..<2,
                       "at least one segment stays, and a window is cut to the segments there are")
        XCTAssertNil(AdjacentMergePolicy(maxSegments: nil).nextMerge(of: segments(tokens: Array(repeating: 1, count: 40))))
    }
}
