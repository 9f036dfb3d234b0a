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

    /// `documents[i]` with `scores[i]` (finite), every one, best first as `better` orders them.
    /// With every document below 2^32 each pair is packed into one integer whose order is that
    /// order, so the sort compares integers rather than calling a comparison per pair.
    static func ranked(scores: [Float], documents: [Int]) -> [(score: Float, document: Int)] {
        precondition(scores.count == documents.count)
        guard documents.allSatisfy({ $0 >= 0 && $0 < 1 << 32 }) else {
            return zip(scores, documents).map { (score: $0, document: $1) }.sorted(by: better)
        }
        var keys = [UInt64](repeating: 0, count: scores.count)
        for i in scores.indices {
            // Order-preserving bits of the score (+0 for −0, which compares equal to it), inverted
            // so that the best comes first, above the document number.
            let bits = (scores[i] + 0).bitPattern
            let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            keys[i] = UInt64(~ascending) << 32 | UInt64(documents[i])
        }
        // A radix sort: the standard library's comparison sort was, after stage 2's kernel, the
        // largest cost of ranking 16,384 candidates (docs/benchmarks.md, "Scale").
        var scratch = [UInt64](repeating: 0, count: keys.count)
        plaid_sort_keys(&keys, keys.count, &scratch)
        return keys.map { key in
            let ascending = ~UInt32(truncatingIfNeeded: key >> 32)
            let bits = ascending & 0x8000_0000 != 0 ? ascending & 0x7FFF_FFFF : ~ascending
            return (score: Float(bitPattern: bits), document: Int(key & 0xFFFF_FFFF))
        }
    }
}
