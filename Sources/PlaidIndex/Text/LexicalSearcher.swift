import Foundation
import PlaidCore

/// BM25 over the stored text of an index (Lucene's formula, with Anserini's k1 = 0.9 and
/// b = 0.4), from each segment's FTS5 table.
///
/// The statistics are the whole snapshot's, not a segment's: a term's document frequency is summed
/// over segments, and so are the documents and tokens behind the average length, so a document
/// scores the same whichever segment holds it. Deleted documents still count in them until a
/// compaction rewrites their segment, as in Lucene; they are never returned.
///
/// A question becomes words: runs of letters, digits and combining marks (what FTS5's unicode61
/// tokenizer keeps together), each quoted as an FTS5 phrase and searched alone. Nothing a user
/// writes is read as FTS5 syntax: `NEAR(`, `*`, `AND` and quotes are words or separators. A
/// question with no words finds nothing. A question costs one pass over each of its (at most
/// `maximumWords`) distinct words' postings, and memory for one word's postings at a time.
public struct LexicalSearcher: Sendable {
    public let index: CompressedIndex
    public var k1 = 0.9
    public var b = 0.4
    /// Words of a question past this many are ignored: each costs a pass over its postings.
    public static let maximumWords = 256

    public init(index: CompressedIndex) throws {
        guard index.manifest.storedText != nil else {
            throw PlaidError.refused("\(index.path) stores no text, so it has no lexical (BM25) search; build it with stored text (--store-text; store_text=True from Python)")
        }
        self.index = index
    }

    /// The words of `question` as FTS5 phrases, in order, duplicates kept (a word asked twice
    /// counts twice, as in a bag of words).
    public static func phrases(of question: String) -> [String] {
        words(of: question).prefix(maximumWords).map { "\"" + String(question.unicodeScalars[$0]) + "\"" }
    }

    /// Where the words of `text` are: runs of letters, digits and marks.
    static func words(of text: String) -> [Range<String.Index>] {
        var ranges: [Range<String.Index>] = []
        var start: String.Index?
        var index = text.unicodeScalars.startIndex
        while index < text.unicodeScalars.endIndex {
            let isWord = isWordScalar(text.unicodeScalars[index])
            if isWord, start == nil { start = index }
            if !isWord, let open = start { ranges.append(open..<index); start = nil }
            index = text.unicodeScalars.index(after: index)
        }
        if let open = start { ranges.append(open..<text.endIndex) }
        return ranges
    }

    /// Whether `scalar` belongs to a word: a letter, digit or mark (or a private-use character),
    /// as FTS5's unicode61 tokenizer keeps them together.
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber, .nonspacingMark, .spacingMark, .enclosingMark, .privateUse:
            return true
        default:
            return false
        }
    }

    /// The best `k` live documents for `question` by BM25, best first (ties by ordinal), among
    /// those `filter` allows. Scores are float32 like the other searches'.
    public func search(_ question: String, k: Int, filter: DocumentFilter? = nil) throws -> [SearchResult] {
        let phrases = Self.phrases(of: question)
        guard !phrases.isEmpty, k > 0 else { return [] }
        let texts = try index.segments.map { segment -> SegmentText in
            guard let text = segment.text else {
                throw PlaidError.corruptIndex(file: segment.directory, detail: "the index stores text but this segment has none")
            }
            return text
        }
        let documents = texts.reduce(0) { $0 + $1.documents }, tokens = texts.reduce(0) { $0 + $1.tokens }
        guard documents > 0 else { return [] }
        let n = Double(documents), averageLength = Double(tokens) / n
        // Word by word (a repeated word once, weighed by its count), so that memory holds one
        // word's postings at a time, whatever the question.
        var order: [String] = [], count: [String: Int] = [:]
        for phrase in phrases {
            if count[phrase] == nil { order.append(phrase) }
            count[phrase, default: 0] += 1
        }
        var scores = index.segments.map { [Double](repeating: 0, count: $0.documentCount) }
        var touched = [[Int32]](repeating: [], count: texts.count)
        for phrase in order {
            let postings = try texts.map { try $0.postings(of: phrase) }
            let df = Double(postings.reduce(0) { $0 + $1.documents.count })
            let weight = Double(count[phrase]!) * log(1 + (n - df + 0.5) / (df + 0.5))
            for (s, segmentPostings) in postings.enumerated() {
                let lengths = texts[s].lengths
                for r in segmentPostings.documents.indices {
                    let d = Int(segmentPostings.documents[r]), f = Double(segmentPostings.occurrences[r])
                    if scores[s][d] == 0 { touched[s].append(segmentPostings.documents[r]) }
                    scores[s][d] += weight * f * (k1 + 1) / (f + k1 * (1 - b + b * Double(lengths[d]) / averageLength))
                }
            }
        }
        var best = TopK(k: k)
        for (s, segment) in index.segments.enumerated() {
            let base = index.segmentBases[s]
            for d32 in touched[s] {
                let d = Int(d32)
                guard !segment.isDeleted(d) else { continue }
                if let filter, !filter.allows(base + d) { continue }
                best.insert(score: Float(scores[s][d]), document: base + d)
            }
        }
        return best.sorted().map { SearchResult(document: $0.document, id: index.documentID($0.document), score: $0.score) }
    }
}
