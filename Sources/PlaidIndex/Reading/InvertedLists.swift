import Foundation
import PlaidCore

/// For each centroid, the sorted unique ids of the documents with a token assigned to it.
///
/// Stored as `[k+1]` UInt64 byte offsets, `[k]` UInt32 list lengths, then each list as LEB128
/// varints of the gaps between consecutive ids (the first gap is the first id). Gaps of sorted
/// ids are small, so most take one byte: this is why the lists need no zstd.
public struct InvertedLists: @unchecked Sendable {
    public let listCount: Int
    private let offsets: UnsafeRawPointer
    private let lengths: UnsafeRawPointer
    private let data: UnsafePointer<UInt8>
    public let totalPostings: Int

    /// The largest payload `listCount` lists over `tokens` tokens can take: the offsets and
    /// lengths, and at most one posting per token of at most 5 bytes (a gap below 2³²).
    static func maximumBytes(listCount: Int, tokens: Int) -> Int {
        8 * (listCount + 1) + 4 * listCount + 5 * tokens
    }

    /// Checks every list as it opens: varints inside their list, ids strictly increasing and
    /// below `documentCount`, and each list's length as recorded. O(postings).
    init(payload: UnsafeRawBufferPointer, listCount k: Int, documentCount: Int, file: String) throws {
        listCount = k
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
            var p = Int(start), decoded = 0, doc = -1
            while p < Int(end) {
                var gap = 0, shift = 0, byte: UInt8 = 0x80
                while byte >= 0x80 {
                    guard p < Int(end), shift < 63 else {
                        throw PlaidError.corruptIndex(file: file, detail: "list \(c) ends inside a number")
                    }
                    byte = data[p]; p += 1
                    gap |= Int(byte & 0x7F) << shift
                    shift += 7
                }
                doc = decoded == 0 ? gap : doc + gap
                guard (decoded == 0 || gap > 0), doc < documentCount else {
                    throw PlaidError.corruptIndex(file: file, detail: "list \(c) holds document \(doc), out of order or beyond the \(documentCount) documents")
                }
                decoded += 1
            }
            guard decoded == recorded else {
                throw PlaidError.corruptIndex(file: file, detail: "list \(c) holds \(decoded) documents, its header says \(recorded)")
            }
            total += recorded
        }
        totalPostings = total
    }

    public func count(ofList c: Int) -> Int { Int(lengths.loadUnaligned(fromByteOffset: 4 * c, as: UInt32.self)) }

    /// Calls `body` with every document id of list `c`, in increasing order.
    @inline(__always)
    public func forEachDocument(inList c: Int, _ body: (Int) -> Void) {
        var p = Int(offsets.loadUnaligned(fromByteOffset: 8 * c, as: UInt64.self))
        let end = Int(offsets.loadUnaligned(fromByteOffset: 8 * (c + 1), as: UInt64.self))
        var doc = 0
        while p < end {
            var gap = 0, shift = 0
            while true {
                let byte = data[p]; p += 1
                gap |= Int(byte & 0x7F) << shift
                if byte < 0x80 { break }
                shift += 7
            }
            doc += gap
            body(doc)
        }
    }

    public func documents(inList c: Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(count(ofList: c))
        forEachDocument(inList: c) { out.append($0) }
        return out
    }
}

/// Builds the inverted lists with memory bounded by the number of lists, not the corpus:
/// (centroid, document) postings are spilled to a scratch file as documents stream by, then
/// scattered into per-list slots of a second scratch file, then varint-coded list by list.
final class InvertedListsBuilder {
    private let listCount: Int
    private let scratchDirectory: String
    private let spillPath: String
    private let spill: FileHandle
    private var spillBuffer: [UInt32] = []
    private var lengths: [UInt32]
    private var lastDocument: [Int32]

    init(listCount k: Int, scratchDirectory: String) throws {
        listCount = k
        self.scratchDirectory = scratchDirectory
        spillPath = (scratchDirectory as NSString).appendingPathComponent("postings.scratch")
        guard FileManager.default.createFile(atPath: spillPath, contents: nil), let h = FileHandle(forWritingAtPath: spillPath) else {
            throw PlaidError.io(path: spillPath, detail: "cannot create a scratch file")
        }
        spill = h
        lengths = [UInt32](repeating: 0, count: k)
        lastDocument = [Int32](repeating: -1, count: k)
    }

    /// Records that `document` has tokens assigned to `codes`. Documents must come in increasing order.
    func add(document: Int, codes: UnsafeBufferPointer<Int32>) throws {
        let doc = Int32(document)
        for code in codes {
            let c = Int(code)
            if lastDocument[c] != doc {
                lastDocument[c] = doc
                lengths[c] += 1
                spillBuffer.append(UInt32(c))
                spillBuffer.append(UInt32(document))
            }
        }
        if spillBuffer.count >= 1 << 20 { try flushSpill() }
    }

    private func flushSpill() throws {
        try spillBuffer.withUnsafeBytes { try spill.write(contentsOf: Data($0)) }
        spillBuffer.removeAll(keepingCapacity: true)
    }

    /// Writes the lists' payload (see `InvertedLists`) through `writer` and removes the scratch files.
    func finish(into writer: ComponentWriter) throws {
        try flushSpill()
        try spill.close()
        let total = lengths.reduce(0) { $0 + Int($1) }
        // Scatter every posting into its list's slot of a scratch file; postings arrive in
        // document order, so each list comes out sorted.
        let slotsPath = (scratchDirectory as NSString).appendingPathComponent("lists.scratch")
        var starts = [Int](repeating: 0, count: listCount + 1)
        for c in 0..<listCount { starts[c + 1] = starts[c] + Int(lengths[c]) }
        try ScratchArray.withWritableMap(path: slotsPath, count: total) { slots in
            var cursor = Array(starts.dropLast())
            let postings = try MappedFile(path: spillPath)
            postings.adviseSequential()
            let pairs = postings.count / 8
            for i in 0..<pairs {
                let c = Int(postings.bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt32.self))
                slots[cursor[c]] = postings.bytes.loadUnaligned(fromByteOffset: 8 * i + 4, as: UInt32.self)
                cursor[c] += 1
                // Release the spill file's pages behind the reader.
                if i & ((1 << 22) - 1) == (1 << 22) - 1 { postings.dropPages(offset: 0, length: 8 * (i + 1)) }
            }
            try? FileManager.default.removeItem(atPath: spillPath)
            // Varint-code each list, first measuring every list's byte length for the offsets table.
            var byteOffsets = [UInt64](repeating: 0, count: listCount + 1)
            for c in 0..<listCount {
                var bytes = 0, previous = 0
                for i in starts[c]..<starts[c + 1] {
                    let doc = Int(slots[i]); bytes += varintLength(doc - previous); previous = doc
                }
                byteOffsets[c + 1] = byteOffsets[c] + UInt64(bytes)
            }
            try writer.append(contentsOf: byteOffsets)
            try writer.append(contentsOf: lengths)
            var encoded: [UInt8] = []
            encoded.reserveCapacity(1 << 16)
            for c in 0..<listCount {
                var previous = 0
                for i in starts[c]..<starts[c + 1] {
                    let doc = Int(slots[i])
                    var gap = doc - previous
                    previous = doc
                    while gap >= 0x80 { encoded.append(UInt8(gap & 0x7F) | 0x80); gap >>= 7 }
                    encoded.append(UInt8(gap))
                }
                if encoded.count >= 1 << 16 { try writer.append(contentsOf: encoded); encoded.removeAll(keepingCapacity: true) }
            }
            try writer.append(contentsOf: encoded)
        }
        try? FileManager.default.removeItem(atPath: slotsPath)
    }

    private func varintLength(_ v: Int) -> Int {
        var n = 1, x = v
        while x >= 0x80 { x >>= 7; n += 1 }
        return n
    }
}

/// A UInt32 array backed by a scratch file mapped read-write, so its pages can leave memory.
enum ScratchArray {
    static func withWritableMap<R>(path: String, count: Int, _ body: (UnsafeMutablePointer<UInt32>) throws -> R) throws -> R {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw PlaidError.io(path: path, detail: "cannot create a scratch file") }
        defer { close(fd) }
        let bytes = max(4, count * 4)
        guard ftruncate(fd, off_t(bytes)) == 0 else { throw PlaidError.io(path: path, detail: "cannot size a scratch file: \(String(cString: strerror(errno)))") }
        guard let base = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw PlaidError.io(path: path, detail: "cannot map a scratch file: \(String(cString: strerror(errno)))")
        }
        defer { munmap(base, bytes) }
        return try body(base.assumingMemoryBound(to: UInt32.self))
    }
}
