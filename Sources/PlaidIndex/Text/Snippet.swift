import Foundation

/// A passage of a document's text around the words of a question, with those words marked: what
/// `plaid search` prints under each result.
///
/// The passage is the window of at most `maximumWords` words holding the most distinct words of
/// the question (then the most of them, then the earliest). Words compare as the full-text table's
/// default tokenizer sees them: runs of letters, digits and marks (`LexicalSearcher.words`),
/// ignoring case and accents. They are the question's words as written, not the tokens whose
/// vectors matched: a PLAID match between different words is not marked.
public struct Snippet: Equatable, Sendable {
    /// The passage, as it stands in the text.
    public var text: String
    /// Where the question's words are in `text`.
    public var marks: [Range<String.Index>]
    /// Whether text was left out before and after the passage.
    public var cutBefore: Bool, cutAfter: Bool

    public static let defaultWords = 40

    public init(text: String, marks: [Range<String.Index>], cutBefore: Bool, cutAfter: Bool) {
        self.text = text; self.marks = marks; self.cutBefore = cutBefore; self.cutAfter = cutAfter
    }

    /// The passage of `text` for `question`; the text's first words when none of the question's is in it.
    public init(of text: String, for question: String, maximumWords: Int = Snippet.defaultWords) {
        let words = LexicalSearcher.words(of: text)
        let wanted = Set(LexicalSearcher.words(of: question).map { Snippet.key(question[$0]) })
        let hits = words.map { range -> String? in
            let key = Snippet.key(text[range])
            return wanted.contains(key) ? key : nil
        }
        guard !words.isEmpty else {
            self.init(text: text.trimmingCharacters(in: .whitespacesAndNewlines), marks: [], cutBefore: false, cutAfter: false)
            return
        }
        let width = max(1, maximumWords)
        // Windows start at 0 or at a hit (no better window starts elsewhere) and end `width`
        // words later or at the text's end; both ends only move forward, so the counts of the
        // question's words inside follow in one pass over the text.
        var inside: [String: Int] = [:], distinct = 0, count = 0, start = 0, stop = 0
        func move(to newStart: Int) {
            while stop < newStart + min(width, words.count - newStart) {
                if let key = hits[stop] { inside[key, default: 0] += 1; if inside[key] == 1 { distinct += 1 }; count += 1 }
                stop += 1
            }
            while start < newStart {
                if let key = hits[start] { inside[key]! -= 1; if inside[key] == 0 { distinct -= 1 }; count -= 1 }
                start += 1
            }
        }
        move(to: 0)
        var best = (start: 0, distinct: distinct, count: count)
        for position in hits.indices where position > 0 && hits[position] != nil {
            move(to: position)
            if (distinct, count) > (best.distinct, best.count) { best = (position, distinct, count) }
        }
        let end = best.start + min(width, words.count - best.start)
        let passage = text[words[best.start].lowerBound..<words[end - 1].upperBound]
        let passageText = String(passage)
        // The marks, moved from the text's indices to the passage's own.
        let marks = (best.start..<end).filter { hits[$0] != nil }.map { i -> Range<String.Index> in
            let lower = passageText.utf8.index(passageText.startIndex, offsetBy: text.utf8.distance(from: passage.startIndex, to: words[i].lowerBound))
            let upper = passageText.utf8.index(lower, offsetBy: text.utf8.distance(from: words[i].lowerBound, to: words[i].upperBound))
            return lower..<upper
        }
        self.init(text: passageText, marks: marks, cutBefore: best.start > 0, cutAfter: end < words.count)
    }

    /// The passage with each mark between `open` and `close` (`**` for Markdown, ANSI bold on a
    /// terminal), "…" where text was cut, and runs of white space as one space; the text itself
    /// passes through `escaping` (say, to show control characters rather than send them to a
    /// terminal), the marks do not.
    public func rendered(open: String, close: String, escaping: (String) -> String = { $0 }) -> String {
        // Each run of white space becomes one space before anything is escaped (a newline would
        // otherwise be shown as an escape).
        func plain(_ part: Substring) -> String {
            let words = part.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let lead = part.first?.isWhitespace == true ? " " : "", trail = part.last?.isWhitespace == true && !words.isEmpty ? " " : ""
            return lead + escaping(words) + trail
        }
        var out = cutBefore ? "…" : ""
        var at = text.startIndex
        for mark in marks {
            out += plain(text[at..<mark.lowerBound]) + open + escaping(String(text[mark])) + close
            at = mark.upperBound
        }
        out += plain(text[at...])
        if cutAfter { out += "…" }
        return out.trimmingCharacters(in: .whitespaces)
    }

    /// A word as compared: without case or accents.
    static func key(_ word: Substring) -> String { word.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil) }
}
