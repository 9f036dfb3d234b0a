import PlaidCore

/// The live documents of one snapshot by id, for callers that name documents by id: fetching
/// their vectors, or restricting a search to a set of them. Built once per snapshot (a pass over
/// its ids); ids compare by their UTF-8 bytes (`ByteExactID`).
public struct DocumentLookup: Sendable {
    public let index: CompressedIndex
    private let ordinals: [ByteExactID: Int]

    public init(index: CompressedIndex) {
        self.index = index
        var ordinals: [ByteExactID: Int] = [:]
        ordinals.reserveCapacity(index.documentCount)
        for (s, segment) in index.segments.enumerated() {
            for d in 0..<segment.documentCount where !segment.isDeleted(d) {
                ordinals[ByteExactID(segment.documentIDs[d])] = index.segmentBases[s] + d
            }
        }
        self.ordinals = ordinals
    }

    /// The ordinal of the live document `id`, or nil when the snapshot has none.
    public func ordinal(of id: String) -> Int? { ordinals[ByteExactID(id)] }

    /// The live documents among `ids`, as a search filter; ids the snapshot does not hold are
    /// passed over (a subset names documents that may since have been deleted).
    public func filter(ids: some Sequence<String>) -> DocumentFilter {
        var chosen = Set<Int>()
        for id in ids { if let ordinal = ordinal(of: id) { chosen.insert(ordinal) } }
        return DocumentFilter(ordinals: chosen.sorted(), in: index)
    }
}

extension DocumentFilter {
    /// The documents at `ordinals` (sorted, live, of `index`).
    public init(ordinals: [Int], in index: CompressedIndex) {
        var allowed = [UInt64](repeating: 0, count: (index.ordinalCount + 63) / 64)
        var tokens = 0
        for ordinal in ordinals {
            allowed[ordinal >> 6] |= 1 << UInt64(ordinal & 63)
            let (s, d) = index.locate(ordinal)
            tokens += index.segments[s].documentLengths[d]
        }
        self.init(allowed: allowed, count: ordinals.count, tokens: tokens, ordinals: ordinals)
    }

    /// The documents both filters allow (of the same snapshot).
    public func intersection(_ other: DocumentFilter, in index: CompressedIndex) -> DocumentFilter {
        DocumentFilter(ordinals: ordinals.filter(other.allows), in: index)
    }
}
