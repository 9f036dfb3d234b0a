import Foundation
import PlaidCore

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
