import Foundation
import PlaidCore
import PlaidKernels

/// For each centroid, the sorted unique ids of the documents with a token assigned to it.
///
/// Stored as `[k+1]` UInt64 byte offsets, `[k]` UInt32 list lengths, then each list as LEB128
/// varints of the gaps between consecutive ids (the first gap is the first id). Gaps of sorted
/// ids are small, so most take one byte: this is why the lists need no zstd.
public struct InvertedLists: @unchecked Sendable {
    public let listCount: Int
    private let documentCount: Int
    private let offsets: UnsafeRawPointer
    private let lengths: UnsafeRawPointer
    private let data: UnsafePointer<UInt8>
    public let totalPostings: Int

    /// The largest payload `listCount` lists over `tokens` tokens can take: the offsets and
    /// lengths, and at most one posting per token of at most 5 bytes (a gap below 2³²).
    static func maximumBytes(listCount: Int, tokens: Int) -> Int {
        8 * (listCount + 1) + 4 * listCount + 5 * tokens
    }

    /// Checks at open that every list's byte range lies in the payload (O(lists)); with
    /// `checkPostings` (an open that verifies checksums), also every posting: varints inside
    /// their list, ids strictly increasing and below `documentCount`, each list's length as
    /// recorded (O(postings): most of opening a large index, which a server's open skips).
    /// Either way a reader never reads out of bounds: traversal stops a list at the first
    /// posting that would break that contract.
    init(payload: UnsafeRawBufferPointer, listCount k: Int, documentCount: Int, file: String, checkPostings: Bool = true) throws {
        listCount = k
        self.documentCount = documentCount
        let header = 8 * (k + 1) + 4 * k
        guard payload.count >= header else {
            throw PlaidError.corruptIndex(file: file, detail: "holds \(payload.count) bytes, too few for \(k) lists")
        }
        offsets = payload.baseAddress!
        lengths = payload.baseAddress! + 8 * (k + 1)
        data = (payload.baseAddress! + header).assumingMemoryBound(to: UInt8.self)
        let dataBytes = payload.count - header
        var total = 0
        for c in 0..<k {
            let start = offsets.loadUnaligned(fromByteOffset: 8 * c, as: UInt64.self)
            let end = offsets.loadUnaligned(fromByteOffset: 8 * (c + 1), as: UInt64.self)
            guard start <= end, end <= UInt64(dataBytes) else {
                throw PlaidError.corruptIndex(file: file, detail: "list \(c) has byte range \(start)..<\(end) outside its \(dataBytes) data bytes")
            }
            let recorded = Int(lengths.loadUnaligned(fromByteOffset: 4 * c, as: UInt32.self))
            if checkPostings {
                try InvertedLists.checkList(c, data: data, from: Int(start), to: Int(end), recorded: recorded,
                                            documentCount: documentCount, file: file)
            }
            total += recorded
        }
        totalPostings = total
    }

    private static func checkList(_ c: Int, data: UnsafePointer<UInt8>, from start: Int, to end: Int, recorded: Int,
                                  documentCount: Int, file: String) throws {
        var p = start, decoded = 0, doc = -1
        while p < end {
            var gap = 0, shift = 0, byte: UInt8 = 0x80
            while byte >= 0x80 {
                guard p < end, shift < 63 else {
                    throw PlaidError.corruptIndex(file: file, detail: "list \(c) ends inside a number")
                }
                byte = data[p]; p += 1
                gap |= Int(byte & 0x7F) << shift
                shift += 7
            }
            doc = decoded == 0 ? gap : doc &+ gap
            guard (decoded == 0 || gap > 0), doc >= 0, doc < documentCount else {
                throw PlaidError.corruptIndex(file: file, detail: "list \(c) holds document \(doc), out of order or beyond the \(documentCount) documents")
            }
            decoded += 1
        }
        guard decoded == recorded else {
            throw PlaidError.corruptIndex(file: file, detail: "list \(c) holds \(decoded) documents, its header says \(recorded)")
        }
    }

    public func count(ofList c: Int) -> Int { Int(lengths.loadUnaligned(fromByteOffset: 4 * c, as: UInt32.self)) }

    /// Calls `body` with every document id of list `c`, in increasing order; a list whose
    /// postings were not checked at open stops at the first one out of bounds.
    @inline(__always)
    public func forEachDocument(inList c: Int, _ body: (Int) -> Void) {
        var p = Int(offsets.loadUnaligned(fromByteOffset: 8 * c, as: UInt64.self))
        let end = Int(offsets.loadUnaligned(fromByteOffset: 8 * (c + 1), as: UInt64.self))
        var doc = 0
        while p < end {
            var gap = 0, shift = 0
            while true {
                guard p < end, shift < 63 else { return }
                let byte = data[p]; p += 1
                gap |= Int(byte & 0x7F) << shift
                if byte < 0x80 { break }
                shift += 7
            }
            doc = doc &+ gap
            guard doc >= 0, doc < documentCount else { return }
            body(doc)
        }
    }

    /// List `c` for `plaid_credit_lists`, its documents numbered from `base`, those in `deleted`
    /// (a bitmap of `documentCount` bits, or nil) skipped. Valid while the index is open.
    func probed(list c: Int, base: Int, deleted: UnsafePointer<UInt64>?, mark: Int32, score: Float) -> plaid_probed_list {
        let start = Int(offsets.loadUnaligned(fromByteOffset: 8 * c, as: UInt64.self))
        let end = Int(offsets.loadUnaligned(fromByteOffset: 8 * (c + 1), as: UInt64.self))
        return plaid_probed_list(data: data, start: start, end: end, documentCount: documentCount, base: base, deleted: deleted,
                                 mark: mark, score: score)
    }

    public func documents(inList c: Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(count(ofList: c))
        forEachDocument(inList: c) { out.append($0) }
        return out
    }
}
