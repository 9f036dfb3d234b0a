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
/// tokenizer keeps together), each quoted as an FTS5 phrase and joined by OR. Nothing a user
/// writes is read as FTS5 syntax: `NEAR(`, `*`, `AND` and quotes are words or separators. A
/// question with no words finds nothing.
public struct LexicalSearcher: Sendable {
    public let index: CompressedIndex
    public var k1 = 0.9
    public var b = 0.4
    /// Words of a question past this many are ignored: each costs a pass over its postings.
    public static let maximumWords = 256

    public init(index: CompressedIndex) throws {
        guard index.manifest.storedText != nil else {
            throw PlaidError.refused("the index at \(index.path) stores no text, so it has no lexical (BM25) search; build it with --store-text")
        }
        self.index = index
    }

    /// The words of `question` as FTS5 phrases, in order, duplicates kept (a word asked twice
    /// counts twice, as in a bag of words).
    public static func phrases(of question: String) -> [String] {
        var words: [String] = [], word = String.UnicodeScalarView()
        func close() {
            if !word.isEmpty, words.count < maximumWords { words.append("\"" + String(word) + "\"") }
            word = String.UnicodeScalarView()
        }
        for scalar in question.unicodeScalars {
            if isWordScalar(scalar) { word.append(scalar) } else { close() }
        }
        close()
        return words
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
        let match = phrases.joined(separator: " OR ")
        let texts = try index.segments.map { segment -> SegmentText in
            guard let text = segment.text else {
                throw PlaidError.corruptIndex(file: segment.directory, detail: "the index stores text but this segment has none")
            }
            return text
        }
        let documents = texts.reduce(0) { $0 + $1.documents }, tokens = texts.reduce(0) { $0 + $1.tokens }
        guard documents > 0 else { return [] }
        let postings = try texts.map { try $0.postings(match: match, phrases: phrases.count) }
        let n = Double(documents), averageLength = Double(tokens) / n
        let weights = (0..<phrases.count).map { i -> Double in
            let df = Double(postings.reduce(0) { $0 + $1[i].documents.count })
            return log(1 + (n - df + 0.5) / (df + 0.5))
        }
        var best = TopK(k: k)
        for (s, segmentPostings) in postings.enumerated() {
            let segment = index.segments[s], base = index.segmentBases[s]
            var scores = [Double](repeating: 0, count: segment.documentCount), touched: [Int32] = []
            let lengths = texts[s].lengths
            for (i, phrase) in segmentPostings.enumerated() {
                for r in phrase.documents.indices {
                    let d = Int(phrase.documents[r]), f = Double(phrase.occurrences[r])
                    if scores[d] == 0 { touched.append(phrase.documents[r]) }
                    scores[d] += weights[i] * f * (k1 + 1) / (f + k1 * (1 - b + b * Double(lengths[d]) / averageLength))
                }
            }
            for d32 in touched {
                let d = Int(d32)
                guard !segment.isDeleted(d) else { continue }
                if let filter, !filter.allows(base + d) { continue }
                best.insert(score: Float(scores[d]), document: base + d)
            }
        }
        return best.sorted().map { SearchResult(document: $0.document, id: index.documentID($0.document), score: $0.score) }
    }
}
