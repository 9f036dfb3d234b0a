/// Decides what an `IndexWriter` does to its segments after each commit: compact the whole index,
/// merge some adjacent segments, or nothing. A policy sees only what the manifest records; the
/// writer does the rewriting, each step as a commit of its own.
///
/// Each add makes a segment and search visits every one, so a stream of small commits (a
/// server's) would pile them up; deleted documents stay in their segments until rewritten.
public protocol MergePolicy: Sendable {
    /// Whether the index that `manifest` describes, just committed, should be rewritten as one
    /// segment of its live documents (compaction). Asked once per commit, before any merge; a
    /// compaction ends the maintenance of that commit.
    func shouldCompact(_ manifest: Manifest) -> Bool

    /// The adjacent segments of `segments` (in manifest order) to merge into one next, or nil when
    /// none need merging. Asked again after each merge until it answers nil, so it must answer nil
    /// once enough merges have been made. A range of at least two segments within `segments`.
    func nextMerge(of segments: [SegmentInfo]) -> Range<Int>?
}

/// The default policy: compacts once deleted tokens pass `compactionThreshold` of the stored
/// tokens (xtr-warp-rs's 20%), and while more than `maxSegments` segments remain, merges the
/// `segmentsPerMerge` adjacent segments that store the fewest tokens. Adjacent ones, so that
/// documents keep their order and results stay those of the compacted index; the fewest tokens,
/// so that the small recent segments merge often and the large old ones rarely (about
/// log(documents) copies of each document).
public struct AdjacentMergePolicy: MergePolicy {
    /// Deleted tokens over stored tokens above which a commit is followed by a compaction; nil
    /// never compacts automatically.
    public var compactionThreshold: Double?
    /// The most segments a commit leaves; nil never merges.
    public var maxSegments: Int?
    /// Segments merged into one at a time (at least 2).
    public var segmentsPerMerge: Int

    public init(compactionThreshold: Double? = 0.2, maxSegments: Int? = 16, segmentsPerMerge: Int = 8) {
        self.compactionThreshold = compactionThreshold
        self.maxSegments = maxSegments
        self.segmentsPerMerge = segmentsPerMerge
    }

    public func shouldCompact(_ manifest: Manifest) -> Bool {
        guard let threshold = compactionThreshold, manifest.storedTokenCount > 0 else { return false }
        return Double(manifest.deletedTokenCount) > threshold * Double(manifest.storedTokenCount)
    }

    public func nextMerge(of segments: [SegmentInfo]) -> Range<Int>? {
        guard let maxSegments, segments.count > max(1, maxSegments) else { return nil }
        let width = max(2, segmentsPerMerge)
        let windows = 0...(segments.count - min(width, segments.count))
        let tokens = { (start: Int) in segments[start..<min(start + width, segments.count)].reduce(0) { $0 + $1.tokenCount } }
        // The fewest tokens; among equals the latest (the newest segments are the small ones).
        let start = windows.min { (tokens($0), -$0) < (tokens($1), -$1) }!
        return start..<min(start + width, segments.count)
    }
}
