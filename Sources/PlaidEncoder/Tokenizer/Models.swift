import Foundation
import PlaidCore

/// A `tokenizer.json` model: turns one pre-tokenized word into token ids.
protocol TokenizationModel: Sendable {
    /// Appends the ids of `word` to `ids`.
    func tokenize(_ word: ScalarSlice, into ids: inout [Int])
    /// Token string → id, for the model's own vocabulary.
    var vocabulary: [String: Int] { get }
    /// The id of what the model cannot spell, if it has one.
    var unknownID: Int? { get }
}

/// Reads the `model` field.
func makeModel(_ fields: JSONFields) throws -> TokenizationModel {
    // Old files leave out the tag of the model; the shape of `merges`/`vocab` tells them apart.
    let type = try fields.optionalString("type") ?? (fields.optional("merges") != nil ? "BPE" : "WordPiece")
    switch type {
    case "WordPiece": return try WordPieceModel(fields)
    case "BPE": return try BPEModel(fields)
    default: throw fields.unsupportedType(type, supported: ["WordPiece", "BPE"])
    }
}

/// Reads `vocab`, a map from token to id.
private func readVocabulary(_ fields: JSONFields) throws -> [String: Int] {
    guard case let .object(entries)? = fields.values["vocab"] else {
        throw fields.invalid("vocab", "should be an object mapping tokens to ids")
    }
    var vocabulary: [String: Int] = [:]
    vocabulary.reserveCapacity(entries.count)
    for (token, value) in entries {
        // BPE merges keep ids in 32 bits (as HF's u32 ids); a larger one must be an error, not a trap.
        guard case let .number(number) = value, let id = Int(exactly: number), id >= 0, id <= Int(Int32.max) else {
            throw fields.invalid("vocab", "should map \"\(token)\" to a non-negative integer id below 2^31")
        }
        vocabulary[token] = id
    }
    return vocabulary
}

/// The scalars as a String, written straight as UTF-8 (the generic `unicodeScalars.append`
/// is several times slower, and this runs once per word).
@inline(__always)
func string(of scalars: ScalarSlice) -> String {
    var length = 0
    for scalar in scalars { length += UTF8.width(scalar) }
    return String(unsafeUninitializedCapacity: length) { buffer in
        var written = 0
        for scalar in scalars {
            let value = scalar.value
            if value < 0x80 {
                buffer[written] = UInt8(truncatingIfNeeded: value)
                written += 1
            } else {
                for byte in UTF8.encode(scalar)! {
                    buffer[written] = byte
                    written += 1
                }
            }
        }
        return written
    }
}

/// BERT's WordPiece: greedy longest-match-first from the left; a word with any unmatchable rest,
/// or longer than `max_input_chars_per_word` characters, becomes a single unknown token.
struct WordPieceModel: TokenizationModel {
    let vocabulary: [String: Int]
    /// What starts a piece inside a word (`##`).
    let continuingPrefix: String
    /// Ids of the continuation pieces, keyed without their `##` prefix so that a lookup needs no
    /// concatenation.
    private let continuationIDs: [String: Int]
    private let unknownWordID: Int
    var unknownID: Int? { unknownWordID }
    private let maxCharactersPerWord: Int
    private let cache = WordCache()

    init(_ fields: JSONFields) throws {
        vocabulary = try readVocabulary(fields)
        let prefix = try fields.optionalString("continuing_subword_prefix") ?? "##"
        continuingPrefix = prefix
        var continuations: [String: Int] = [:]
        for (token, id) in vocabulary where token.hasPrefix(prefix) && token.count > prefix.count {
            continuations[String(token.dropFirst(prefix.count))] = id
        }
        continuationIDs = continuations
        let unknownToken = try fields.optionalString("unk_token") ?? "[UNK]"
        guard let unknownID = vocabulary[unknownToken] else {
            throw fields.invalid("unk_token", "names \"\(unknownToken)\", which is not in `\(fields.fieldPath("vocab"))`")
        }
        unknownWordID = unknownID
        maxCharactersPerWord = fields.optional("max_input_chars_per_word") == nil
            ? 100 : try fields.int("max_input_chars_per_word")
    }

    func tokenize(_ word: ScalarSlice, into ids: inout [Int]) {
        if word.count > maxCharactersPerWord {
            ids.append(unknownWordID)
            return
        }
        let key = string(of: word)
        if let cached = cache.lookup(key) {
            ids.append(contentsOf: cached)
            return
        }
        let pieces = greedyPieces(word, whole: key)
        cache.insert(key, pieces)
        ids.append(contentsOf: pieces)
    }

    private func greedyPieces(_ word: ScalarSlice, whole: String) -> [Int] {
        if let id = vocabulary[whole] { return [id] }
        var pieces: [Int] = []
        var start = word.startIndex
        while start < word.endIndex {
            var end = word.endIndex
            var match: Int? = nil
            while end > start {
                let candidate = string(of: word[start..<end])
                match = start == word.startIndex ? vocabulary[candidate] : continuationIDs[candidate]
                if match != nil { break }
                end -= 1
            }
            guard let id = match else { return [unknownWordID] }
            pieces.append(id)
            start = end
        }
        return pieces
    }
}

/// Byte-pair encoding with ranked merges: starting from single characters, repeatedly merge the
/// adjacent pair with the lowest rank (leftmost first among equal pairs) until no pair merges.
struct BPEModel: TokenizationModel {
    let vocabulary: [String: Int]
    /// (left id, right id) packed into one key → (rank, id of the merged token).
    private let merges: [UInt64: (rank: Int32, merged: Int32)]
    /// Ids of single-character tokens, by scalar value; with a continuing-subword prefix or an
    /// end-of-word suffix the other cases are looked up by string.
    private let characterIDs: [UInt32: Int]
    let unknownID: Int?
    private let fuseUnknown: Bool
    private let ignoreMerges: Bool
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    private let cache = WordCache()

    init(_ fields: JSONFields) throws {
        vocabulary = try readVocabulary(fields)
        if let dropout = fields.optional("dropout"), case let .number(probability) = dropout, probability > 0 {
            throw fields.invalid("dropout", "is \(probability): BPE dropout is random and has no place in inference")
        }
        if try fields.bool("byte_fallback", default: false) {
            throw fields.invalid("byte_fallback", "is true, which plaid does not implement")
        }
        continuingSubwordPrefix = try fields.optionalString("continuing_subword_prefix").flatMap { $0.isEmpty ? nil : $0 }
        endOfWordSuffix = try fields.optionalString("end_of_word_suffix").flatMap { $0.isEmpty ? nil : $0 }
        fuseUnknown = try fields.bool("fuse_unk", default: false)
        ignoreMerges = try fields.bool("ignore_merges", default: false)
        if let unknownToken = try fields.optionalString("unk_token") {
            guard let id = vocabulary[unknownToken] else {
                throw fields.invalid("unk_token", "names \"\(unknownToken)\", which is not in `\(fields.fieldPath("vocab"))`")
            }
            unknownID = id
        } else {
            unknownID = nil
        }

        var characterIDs: [UInt32: Int] = [:]
        for (token, id) in vocabulary {
            let scalars = token.unicodeScalars
            if scalars.count == 1 { characterIDs[scalars.first!.value] = id }
        }
        self.characterIDs = characterIDs

        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        let entries = try fields.array("merges")
        merges.reserveCapacity(entries.count)
        let prefixLength = continuingSubwordPrefix?.count ?? 0
        for (rank, entry) in entries.enumerated() {
            let pair: [String]
            switch entry {
            case let .string(line):
                pair = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            case let .array(items):
                pair = items.compactMap { if case let .string(part) = $0 { return part } else { return nil } }
            default:
                pair = []
            }
            guard pair.count == 2 else {
                throw fields.invalid("merges", "entry \(rank) should be \"left right\" or [\"left\", \"right\"]")
            }
            // The merged token drops the right part's continuation prefix, as HF does.
            let right = prefixLength > 0 && pair[1].hasPrefix(continuingSubwordPrefix!)
                ? String(pair[1].dropFirst(prefixLength)) : pair[1]
            guard let left = vocabulary[pair[0]], let rightID = vocabulary[pair[1]],
                  let merged = vocabulary[pair[0] + right] else {
                throw fields.invalid("merges", "entry \(rank) (\(pair[0]) \(pair[1])) uses a token that is not in the vocabulary")
            }
            let key = UInt64(left) << 32 | UInt64(rightID)
            if merges[key] == nil { merges[key] = (Int32(rank), Int32(merged)) }
        }
        self.merges = merges
    }

    func tokenize(_ word: ScalarSlice, into ids: inout [Int]) {
        let key = string(of: word)
        if let cached = cache.lookup(key) {
            ids.append(contentsOf: cached)
            return
        }
        let pieces: [Int]
        if ignoreMerges, let id = vocabulary[key] {
            pieces = [id]
        } else {
            pieces = mergedSymbols(word)
        }
        cache.insert(key, pieces)
        ids.append(contentsOf: pieces)
    }

    private func initialSymbols(_ word: ScalarSlice) -> [Int] {
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        var previousWasUnknown = false
        for index in word.indices {
            let scalar = word[index]
            let id: Int?
            let isFirst = index == word.startIndex
            let isLast = index == word.endIndex - 1
            if (continuingSubwordPrefix == nil || isFirst) && (endOfWordSuffix == nil || !isLast) {
                id = characterIDs[scalar.value]
            } else {
                var token = isFirst ? "" : continuingSubwordPrefix ?? ""
                token.unicodeScalars.append(scalar)
                if isLast, let suffix = endOfWordSuffix { token += suffix }
                id = vocabulary[token]
            }
            if let id {
                symbols.append(id)
                previousWasUnknown = false
            } else if let unknownID {
                // Characters the vocabulary lacks become the unknown token (one per run with fuse_unk);
                // without an unknown token HF drops them.
                if !(fuseUnknown && previousWasUnknown) { symbols.append(unknownID) }
                previousWasUnknown = true
            }
        }
        return symbols
    }

    /// Below this many symbols the quadratic scan beats a heap; above it a long unbroken run
    /// (a sequence, a hash, a URL) would cost seconds.
    private static let quadraticMergeLimit = 96

    @inline(__always)
    private func merge(_ left: Int, _ right: Int) -> (rank: Int32, merged: Int32)? {
        merges[UInt64(left) << 32 | UInt64(right)]
    }

    private func mergedSymbols(_ word: ScalarSlice) -> [Int] {
        let symbols = initialSymbols(word)
        return symbols.count > Self.quadraticMergeLimit ? heapMerged(symbols) : scanMerged(symbols)
    }

    /// O(n²): rescans all pairs after each merge. The cache makes every distinct word pay once.
    private func scanMerged(_ initial: [Int]) -> [Int] {
        var symbols = initial
        while symbols.count > 1 {
            var bestRank = Int32.max
            var bestPosition = -1
            var bestMerged: Int32 = 0
            for position in 0..<(symbols.count - 1) {
                let key = UInt64(symbols[position]) << 32 | UInt64(symbols[position + 1])
                if let merge = merges[key], merge.rank < bestRank {
                    bestRank = merge.rank
                    bestPosition = position
                    bestMerged = merge.merged
                }
            }
            if bestPosition < 0 { break }
            symbols[bestPosition] = Int(bestMerged)
            symbols.remove(at: bestPosition + 1)
        }
        return symbols
    }

    /// O(n log n): symbols in a linked list, candidate pairs in a min-heap by (rank, position).
    /// A popped candidate whose symbols changed since it was pushed is stale and skipped, so the
    /// merge order is exactly the scan's: lowest rank first, leftmost among equals.
    private func heapMerged(_ initial: [Int]) -> [Int] {
        var symbols = initial
        var next = Array(1...symbols.count)  // symbols.count marks the end
        var previous = Array(-1..<(symbols.count - 1))
        var alive = [Bool](repeating: true, count: symbols.count)
        var candidates = MinHeap()
        for position in 0..<(symbols.count - 1) {
            if let merge = merge(symbols[position], symbols[position + 1]) {
                candidates.push(rank: merge.rank, position: position, left: symbols[position], right: symbols[position + 1])
            }
        }
        while let candidate = candidates.pop() {
            let position = candidate.position
            let right = next[position]
            guard alive[position], right < symbols.count, symbols[position] == candidate.left,
                  symbols[right] == candidate.right, let merge = merge(candidate.left, candidate.right) else { continue }
            symbols[position] = Int(merge.merged)
            alive[right] = false
            next[position] = next[right]
            if next[right] < symbols.count { previous[next[right]] = position }
            if previous[position] >= 0, let left = self.merge(symbols[previous[position]], symbols[position]) {
                candidates.push(rank: left.rank, position: previous[position], left: symbols[previous[position]],
                                right: symbols[position])
            }
            if next[position] < symbols.count, let after = self.merge(symbols[position], symbols[next[position]]) {
                candidates.push(rank: after.rank, position: position, left: symbols[position], right: symbols[next[position]])
            }
        }
        return symbols.indices.filter { alive[$0] }.map { symbols[$0] }
    }
}

/// A binary min-heap of merge candidates ordered by (rank, position).
private struct MinHeap {
    struct Candidate {
        let rank: Int32
        let position: Int
        let left: Int
        let right: Int

        func precedes(_ other: Candidate) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var storage: [Candidate] = []

    mutating func push(rank: Int32, position: Int, left: Int, right: Int) {
        storage.append(Candidate(rank: rank, position: position, left: left, right: right))
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[child].precedes(storage[parent]) else { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard !storage.isEmpty else { return nil }
        storage.swapAt(0, storage.count - 1)
        let top = storage.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < storage.count && storage[left].precedes(storage[smallest]) { smallest = left }
            if right < storage.count && storage[right].precedes(storage[smallest]) { smallest = right }
            if smallest == parent { break }
            storage.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

/// A thread-safe memo of word → ids, in shards so that encoders on many threads rarely wait on
/// the same lock. It stops growing at a fixed size: a corpus's vocabulary of words fits, and a
/// stream of unique junk cannot exhaust memory.
final class WordCache: @unchecked Sendable {
    private static let shardCount = 32
    private static let capacityPerShard = 8192

    private final class Shard {
        let lock = NSLock()
        var entries: [String: [Int]] = [:]
    }

    private let shards: [Shard] = (0..<WordCache.shardCount).map { _ in Shard() }

    private func shard(for word: String) -> Shard {
        shards[Int(UInt(bitPattern: word.hashValue) % UInt(WordCache.shardCount))]
    }

    func lookup(_ word: String) -> [Int]? {
        let shard = shard(for: word)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        return shard.entries[word]
    }

    func insert(_ word: String, _ ids: [Int]) {
        let shard = shard(for: word)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        if shard.entries.count < WordCache.capacityPerShard { shard.entries[word] = ids }
    }
}
