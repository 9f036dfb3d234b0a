import PlaidCore

/// Parameters of PLAID's staged search, passed per call. `SearchParameters(k:)` gives PLAID's
/// defaults for that k:
///
/// | k | ncells | centroidScoreThreshold | ndocs |
/// |---|---|---|---|
/// | ≤ 10 | 1 | 0.5 | 256 |
/// | ≤ 100 | 2 | 0.45 | 1024 |
/// | larger | 4 | 0.4 | max(4k, 4096) |
public struct SearchParameters: Sendable, Equatable {
    /// The largest `k` and `ndocs` the command line takes: far past any ranking's use, and small
    /// enough that their per-query buffers can always be allocated.
    public static let maximumK = 1_000_000
    public static let maximumNdocs = 1 << 26
    /// The most vectors one query may have: far past ColBERT's 32, and small enough that the
    /// stages' per-token working arrays (on the stack of a search thread) always fit.
    public static let maximumQueryTokens = 8192

    /// Refuses queries of more than `maximumQueryTokens` vectors, naming `what` they are.
    public static func checkQueryTokens(_ tokens: Int, what: String) throws {
        guard tokens <= maximumQueryTokens else {
            throw PlaidError.invalidInput(file: what, detail: "have \(tokens) vectors per query; at most \(maximumQueryTokens) are searched (ColBERT queries have 32)")
        }
    }

    /// Results returned per query.
    public var k: Int
    /// When more than `k`: results returned past the first k, the best of the documents that the
    /// search for k scores exactly, in their exact order. The budgets are still chosen for k, so
    /// the first k are those of the search for k and cost hardly more; what follows is a deeper
    /// list for a hybrid search to fuse (`ModeSearch`), not the exact ranking's next places.
    public var resultDepth: Int?
    /// Results a search returns at most: `k`, or `resultDepth` when deeper.
    public var returnedResults: Int { max(k, resultDepth ?? k) }
    /// Centroids probed per query token in candidate generation (PLAID: `ncells`, nprobe).
    public var ncells: Int
    /// Centroids whose best score over the query tokens is below this are pruned from the
    /// approximate scoring stage (PLAID: t_cs): in the grouped search, and in the flat search
    /// with fixed budgets (with budgets from the scores it ranks every candidate unpruned).
    public var centroidScoreThreshold: Float
    /// Candidates kept after centroid pruning, a quarter of them after centroid interaction
    /// (PLAID: ndocs). With budgets from the scores, a quarter of ndocs is where the exact scoring
    /// starts, and the flat search ranks every candidate (`Searcher.rescoredStages`).
    public var ndocs: Int
    /// Whether the cut before the exact scores moves while they show that documents past it could
    /// still reach the first ten results, with every candidate ranked by its full centroid
    /// interaction (`Searcher.rescoredStages`); false keeps PLAID's fixed `ndocs` and `ndocs/4`. The grouped search moves its one cut (the best
    /// `ndocs/4` of stage 2's ranking) the same way.
    public var budgetsFromScores = true
    /// Past its `ncells` best centroids, a query token also probes those scoring within this
    /// margin of its best, up to `probeWidening` · ncells in all (`Searcher.probedCentroids`);
    /// 0 probes exactly `ncells`. Not used by the grouped search, whose probes are its own.
    public var probeMargin: Float = SearchParameters.defaultProbeMargin
    public static let defaultProbeMargin: Float = 0.02
    public static let probeWidening = 4
    /// On a codebook trained in groups (`CentroidSearchGroups`): the groups whose centroids
    /// stage 1 scores for each query token, best first by the token's score of their centers.
    public var groupProbes: Int = SearchParameters.defaultGroupProbes
    public static let defaultGroupProbes = 8
    /// Past any grouping's group count (a grouped codebook has about √(4k) groups).
    public static let maximumGroupProbes = 1 << 16
    /// On a codebook trained in groups: candidates kept, by their scores from the postings
    /// alone, for the pruned centroid interaction; nil: 16 · ndocs. At least `ndocs` are kept.
    public var candidateBudget: Int?
    public var effectiveCandidateBudget: Int { max(candidateBudget ?? 16 * ndocs, ndocs, k) }
    /// On a codebook trained in groups: the centroids each query token probes, `ncells` but at
    /// least 2. Candidates are chosen by the postings of the probed lists, and one list per token
    /// leaves too few postings to choose by (docs/benchmarks.md, "Search at scale").
    public var groupedNcells: Int { max(ncells, 2) }
    /// A filter matching at most this many tokens is searched by scoring every matching document
    /// exactly, with no probing (see `Searcher`); above it, the staged search runs restricted to
    /// the matches. The default is where the two ran equally fast on SciFact at dimension 384,
    /// k = 10 (docs/benchmarks.md, "Design measurements"): exact scoring's cost grows with the
    /// matching tokens, the restricted staged search's hardly does.
    public var exactScoringTokens: Int = SearchParameters.defaultExactScoringTokens
    public static let defaultExactScoringTokens = 20_000

    public init(k: Int = 10) {
        self.k = k
        switch k {
        case ...10: ncells = 1; centroidScoreThreshold = 0.5; ndocs = 256
        case ...100: ncells = 2; centroidScoreThreshold = 0.45; ndocs = 1024
        default: ncells = 4; centroidScoreThreshold = 0.4; ndocs = max(4 * k, 4096)
        }
    }

    public init(k: Int, ncells: Int, centroidScoreThreshold: Float, ndocs: Int) {
        self.k = k; self.ncells = ncells; self.centroidScoreThreshold = centroidScoreThreshold; self.ndocs = ndocs
    }
}

/// One ranked result: a document's id, its score, and its ordinal in the searched snapshot
/// (segment after segment; for the exhaustive search, its position in the embeddings). Ordinals
/// change with compaction; ids never do.
public struct SearchResult: Sendable, Equatable {
    public var document: Int
    public var id: String
    public var score: Float

    public init(document: Int, id: String, score: Float) {
        self.document = document; self.id = id; self.score = score
    }
}
