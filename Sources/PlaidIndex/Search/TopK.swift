import PlaidKernels

/// Keeps the `k` best (score, document) pairs. Ties go to the lower document number, so the
/// ranking is a pure function of the scores.
struct TopK {
    let k: Int
    private(set) var items: [(score: Float, document: Int)] = []

    init(k: Int) { self.k = k; items.reserveCapacity(k + 1) }

    @inline(__always)
    static func better(_ a: (score: Float, document: Int), _ b: (score: Float, document: Int)) -> Bool {
        a.score > b.score || (a.score == b.score && a.document < b.document)
    }

    /// The worst kept item, once k are kept.
    var threshold: (score: Float, document: Int)? { items.count == k ? items[0] : nil }

    mutating func insert(score: Float, document: Int) {
        guard k > 0 else { return }
        let item = (score: score, document: document)
        if items.count < k {
            items.append(item)
            siftUp(items.count - 1)
        } else if TopK.better(item, items[0]) {
            items[0] = item
            siftDown(0)
        }
    }

    /// Min-heap on "better": the root is the worst kept item.
    private mutating func siftUp(_ i: Int) {
        var child = i
        while child > 0 {
            let parent = (child - 1) / 2
            guard TopK.better(items[parent], items[child]) else { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    private mutating func siftDown(_ i: Int) {
        var parent = i
        while true {
            let l = 2 * parent + 1, r = l + 1
            var worst = parent
            if l < items.count && TopK.better(items[worst], items[l]) { worst = l }
            if r < items.count && TopK.better(items[worst], items[r]) { worst = r }
            if worst == parent { return }
            items.swapAt(parent, worst)
            parent = worst
        }
    }

    /// The kept items, best first.
    func sorted() -> [(score: Float, document: Int)] { items.sorted(by: TopK.better) }

    /// A document below 2^32 and its score packed into one integer whose increasing order is
    /// `better`'s, so that a ranking sorts integers rather than calling a comparison per pair.
    static func packed(score: Float, document: Int) -> UInt64 {
        // Order-preserving bits of the score (+0 for −0, which compares equal to it), inverted so
        // that the best comes first, above the document number.
        let bits = (score + 0).bitPattern
        let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(~ascending) << 32 | UInt64(document)
    }

    static func unpacked(_ key: UInt64) -> (score: Float, document: Int) {
        let ascending = ~UInt32(truncatingIfNeeded: key >> 32)
        let bits = ascending & 0x8000_0000 != 0 ? ascending & 0x7FFF_FFFF : ~ascending
        return (score: Float(bitPattern: bits), document: Int(key & 0xFFFF_FFFF))
    }
}

/// Documents with their scores, read best first (`TopK.better`'s order) but sorted only as far as
/// they are read: stage 4 reads the head of stage 2's or 3's ranking of thousands of candidates
/// (the best ndocs/4 and the few more the errors ask for), and sorting every candidate cost more
/// than the head (docs/benchmarks.md, "Search at 100M tokens: short gaps eight bytes at a time,
/// the ranking's head").
struct Ranking {
    typealias Scored = (score: Float, document: Int)
    /// Every pair packed (`TopK.packed`), in the order given; empty where a document is negative
    /// or 2^32 or more, and `head` holds every pair sorted.
    private let keys: [UInt64]
    /// The best `head.count` pairs, best first.
    private var head: [Scored] = []
    let count: Int

    /// `documents[i]` with `scores[i]` (finite).
    init(scores: [Float], documents: [Int]) {
        precondition(scores.count == documents.count)
        count = scores.count
        if documents.allSatisfy({ $0 >= 0 && $0 < 1 << 32 }) {
            keys = zip(scores, documents).map { TopK.packed(score: $0, document: $1) }
        } else {
            keys = []
            head = zip(scores, documents).map { (score: $0, document: $1) }.sorted(by: TopK.better)
        }
    }

    /// The pair in place `i` (below `count`) of the ranking.
    mutating func item(_ i: Int) -> Scored {
        precondition(i >= 0 && i < count, "place \(i) of a ranking of \(count)")
        if i >= head.count { sortHead(through: i) }
        return head[i]
    }

    /// The best `n` pairs (at most `count`), best first.
    mutating func best(_ n: Int) -> [Scored] {
        let n = min(n, count)
        if n > head.count { sortHead(through: n - 1) }
        return Array(head.prefix(n))
    }

    /// Extends the sorted head past place `i`, to twice as far (and at least 256 places and twice
    /// its length): stage 4 reads its first batch and then the place after it, which would
    /// otherwise select a second time, and a reader going down the ranking one place at a time
    /// has it selected a few times only.
    private mutating func sortHead(through i: Int) {
        let length = min(count, max(2 * (i + 1), 2 * head.count, 256))
        let best = [UInt64](unsafeUninitializedCapacity: length) { best, written in
            let scratch = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
            defer { scratch.deallocate() }
            plaid_smallest_keys(keys, count, length, best.baseAddress!, scratch)
            written = length
        }
        head = best.map(TopK.unpacked)
    }
}
