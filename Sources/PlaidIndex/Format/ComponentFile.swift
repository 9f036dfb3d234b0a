import Foundation
import PlaidCore
import PlaidKernels

/// The kinds of file an index holds. Every file is a 64-byte header followed by its payload;
/// see docs/FORMAT.md. The component id in the header says which kind a file is, so a file
/// renamed or copied into the wrong place is caught on open.
public enum IndexComponent: UInt32, CaseIterable, Sendable {
    /// Version 1 only: the whole index's metadata (version 2 keeps it in the manifest).
    case metadata = 1
    case centroids = 2
    case documentLengths = 3
    case documentIDs = 4
    case codes = 5
    case residuals = 6
    case invertedLists = 7
    /// Version 2: the commit point naming the codebook, the live segments and their deletions.
    case manifest = 8
    /// Version 2: one segment's deleted documents, a bitmap.
    case deletions = 9
    /// A segment built apart from any index (`plaid segment build`): what it was coded against
    /// and what it holds, written last, so that a directory without it is incomplete.
    case segmentDescriptor = 10

    /// The file's name in a version-1 index directory, and in a version-2 segment directory for
    /// the segment components. Centroids and deletions carry their generation in version 2
    /// (`centroids-G.plaid`, `deleted-G.plaid`); see `Manifest`.
    public var fileName: String {
        switch self {
        case .metadata: return "metadata.plaid"
        case .centroids: return "centroids.plaid"
        case .documentLengths: return "doclens.plaid"
        case .documentIDs: return "docids.plaid"
        case .codes: return "codes.plaid"
        case .residuals: return "residuals.plaid"
        case .invertedLists: return "ivf.plaid"
        case .manifest: return "manifest.plaid"
        case .deletions: return "deleted.plaid"
        case .segmentDescriptor: return "segment.plaid"
        }
    }

    /// The five components every segment holds, and a version-1 index holds at its top level.
    public static let segmentComponents: [IndexComponent] = [.documentLengths, .documentIDs, .codes, .residuals, .invertedLists]
    /// The seven files of a version-1 index.
    public static let version1Components: [IndexComponent] = [.metadata, .centroids] + segmentComponents
}

/// How a payload is stored.
public enum PayloadEncoding: UInt32, Sendable {
    /// The bytes as they are: the file can be used in place through a memory map.
    case raw = 0
    /// One zstd frame, decompressed into memory on open.
    case zstd = 1
}

/// The fixed header of every index file.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `PLAIDIDX` |
/// | 8 | 4 | format version |
/// | 12 | 4 | component id |
/// | 16 | 4 | payload encoding |
/// | 20 | 4 | reserved, 0 |
/// | 24 | 8 | payload length once decoded |
/// | 32 | 8 | stored payload length |
/// | 40 | 8 | checksum of the stored payload |
/// | 48 | 8 | checksum of bytes 0..<48 |
/// | 56 | 8 | reserved, 0 |
struct ComponentHeader: Equatable {
    static let size = 64
    static let magic: [UInt8] = Array("PLAIDIDX".utf8)
    /// The version written. The header and the segment components are laid out alike in
    /// versions 1 and 2 (version 2 added the manifest, deletions and segments), so both are read.
    static let formatVersion: UInt32 = 2
    static let readableVersions: ClosedRange<UInt32> = 1...2

    var version: UInt32 = ComponentHeader.formatVersion
    var component: IndexComponent
    var encoding: PayloadEncoding
    var decodedLength: UInt64
    var storedLength: UInt64
    var payloadChecksum: UInt64

    func serialized() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: ComponentHeader.size)
        bytes.replaceSubrange(0..<8, with: ComponentHeader.magic)
        func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
            withUnsafeBytes(of: v.littleEndian) { bytes.replaceSubrange(offset..<offset + MemoryLayout<T>.size, with: $0) }
        }
        put(version, at: 8); put(component.rawValue, at: 12); put(encoding.rawValue, at: 16)
        put(decodedLength, at: 24); put(storedLength, at: 32); put(payloadChecksum, at: 40)
        put(bytes.withUnsafeBytes { plaid_checksum64($0.baseAddress, 48, 0) }, at: 48)
        return bytes
    }

    /// Parses and checks a header; `file` names the file in errors.
    static func parse(_ p: UnsafeRawPointer, fileSize: Int, file: String, expected: IndexComponent) throws -> ComponentHeader {
        guard fileSize >= size else {
            throw PlaidError.corruptIndex(file: file, detail: "the file is truncated (\(fileSize) bytes, shorter than its 64-byte header)")
        }
        guard (0..<8).allSatisfy({ p.load(fromByteOffset: $0, as: UInt8.self) == magic[$0] }) else {
            throw PlaidError.corruptIndex(file: file, detail: "the magic number PLAIDIDX is missing: this is not a plaid index file")
        }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T { T(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        let version = get(8, UInt32.self)
        guard readableVersions.contains(version) else {
            throw PlaidError.corruptIndex(file: file, detail: "format version \(version) found; this plaid reads versions \(readableVersions.lowerBound) to \(readableVersions.upperBound). Rebuild the index with this version of plaid")
        }
        guard get(48, UInt64.self) == plaid_checksum64(p, 48, 0) else {
            throw PlaidError.corruptIndex(file: file, detail: "the header checksum does not match: the header is damaged")
        }
        guard let component = IndexComponent(rawValue: get(12, UInt32.self)), component == expected else {
            throw PlaidError.corruptIndex(file: file, detail: "holds component \(get(12, UInt32.self)), expected \(expected.rawValue) (\(expected.fileName))")
        }
        // Outside the header checksum: reserved, so any other value is damage.
        guard get(56, UInt64.self) == 0 else {
            throw PlaidError.corruptIndex(file: file, detail: "the header's reserved bytes 56 to 63 are not zero: the header is damaged")
        }
        guard let encoding = PayloadEncoding(rawValue: get(16, UInt32.self)) else {
            throw PlaidError.corruptIndex(file: file, detail: "unknown payload encoding \(get(16, UInt32.self))")
        }
        let header = ComponentHeader(version: version, component: component, encoding: encoding,
                                     decodedLength: get(24, UInt64.self), storedLength: get(32, UInt64.self),
                                     payloadChecksum: get(40, UInt64.self))
        guard UInt64(fileSize - size) == header.storedLength else {
            throw PlaidError.corruptIndex(file: file, detail: "the file is truncated or has trailing bytes: its header announces \(header.storedLength) payload bytes, the file holds \(fileSize - size)")
        }
        return header
    }
}

/// How many bytes a component holds once decoded, as the manifest says it must: its documents,
/// tokens and dimension fix most components' sizes exactly, and bound the rest. A reader checks a
/// header's claim against this before it allocates anything, so that neither damage nor a
/// crafted file becomes a huge allocation, and a payload that compresses well is never mistaken
/// for damage (how much zstd gains says nothing about a file's health).
public enum PayloadSize: Sendable, Equatable {
    case exactly(Int)
    case atMost(Int)

    func allows(_ bytes: UInt64) -> Bool {
        switch self {
        case .exactly(let n): return n >= 0 && bytes == UInt64(n)
        case .atMost(let n): return n >= 0 && bytes <= UInt64(n)
        }
    }

    var summary: String {
        switch self {
        case .exactly(let n): return "exactly \(n)"
        case .atMost(let n): return "at most \(n)"
        }
    }
}

/// A component file opened for reading: raw payloads are used in place through the memory map,
/// zstd payloads are decompressed into memory.
public final class ComponentReader: @unchecked Sendable {
    public let component: IndexComponent
    /// The file's path, for error messages.
    public let path: String
    let file: MappedFile
    private let decoded: UnsafeMutableRawBufferPointer?
    public let payload: UnsafeRawBufferPointer
    public let storedBytes: Int

    convenience init(directory: String, component: IndexComponent, size: PayloadSize, verifyChecksum: Bool) throws {
        try self.init(path: (directory as NSString).appendingPathComponent(component.fileName),
                      component: component, size: size, verifyChecksum: verifyChecksum)
    }

    /// Opens the file at `path`, which must hold `component` with a payload of `size` bytes
    /// once decoded.
    init(path: String, component: IndexComponent, size: PayloadSize, verifyChecksum: Bool) throws {
        self.component = component
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw PlaidError.corruptIndex(file: path, detail: "the file is missing")
        }
        file = try MappedFile(path: path)
        storedBytes = file.count
        let header = try ComponentHeader.parse(file.bytes, fileSize: file.count, file: path, expected: component)
        let stored = UnsafeRawBufferPointer(start: file.bytes + ComponentHeader.size, count: Int(header.storedLength))
        if verifyChecksum {
            let sum = plaid_checksum64(stored.baseAddress, stored.count, UInt64(component.rawValue))
            guard sum == header.payloadChecksum else {
                throw PlaidError.corruptIndex(file: path, detail: "the payload checksum does not match: the file is damaged. Rebuild the index")
            }
        }
        guard size.allows(header.decodedLength) else {
            throw PlaidError.corruptIndex(file: path, detail: "the header claims \(header.decodedLength) payload bytes; the manifest implies \(size.summary)")
        }
        if header.encoding == .raw, header.decodedLength != header.storedLength {
            throw PlaidError.corruptIndex(file: path, detail: "the header claims \(header.decodedLength) payload bytes for an uncompressed payload of \(header.storedLength)")
        }
        if header.encoding == .zstd {
            // The frame must agree, and its blocks must be able to hold that much: where the
            // manifest only bounds a size loosely, a crafted file still cannot claim more than it could decode to.
            guard Zstd.frameContentSize(stored) == header.decodedLength,
                  let bound = Zstd.decompressBound(stored), header.decodedLength <= bound else {
                throw PlaidError.corruptIndex(file: path, detail: "the header claims \(header.decodedLength) payload bytes, which its zstd frame does not record")
            }
        }
        switch header.encoding {
        case .raw:
            decoded = nil
            payload = stored
        case .zstd:
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, Int(header.decodedLength)), alignment: 64)
            do {
                try Zstd.decompress(stored, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(header.decodedLength)]), file: path)
            } catch {
                buffer.deallocate()
                throw error
            }
            decoded = buffer
            payload = UnsafeRawBufferPointer(rebasing: buffer[0..<Int(header.decodedLength)])
        }
    }

    /// Lets the kernel drop the mapped pages of a raw payload from this process once it has been
    /// copied elsewhere (the map stays valid; `payload` read again reads the file back).
    func dropMappedPages() {
        guard decoded == nil else { return }
        file.dropPages(offset: ComponentHeader.size, length: payload.count)
    }

    deinit { decoded?.deallocate() }
}

/// Writes one component file: payload first (streamed, or all at once), then the header with
/// the checksum. The file is flushed to disk before `finish` returns.
final class ComponentWriter {
    let path: String
    let component: IndexComponent
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var written = 0
    /// The payload checksum, computed as bytes are appended so the file is never read back.
    private var checksum = plaid_checksum_state()
    private static let flushThreshold = 1 << 20

    convenience init(directory: String, component: IndexComponent) throws {
        try self.init(path: (directory as NSString).appendingPathComponent(component.fileName), component: component)
    }

    init(path: String, component: IndexComponent) throws {
        self.component = component
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw PlaidError.io(path: path, detail: "cannot create the file")
        }
        handle = h
        try handle.write(contentsOf: [UInt8](repeating: 0, count: ComponentHeader.size))
        buffer.reserveCapacity(ComponentWriter.flushThreshold)
        plaid_checksum_init(&checksum, UInt64(component.rawValue))
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        plaid_checksum_update(&checksum, bytes.baseAddress, bytes.count)
        written += bytes.count
        if buffer.count >= ComponentWriter.flushThreshold { try flush() }
    }

    func append<T>(contentsOf values: [T]) throws {
        try values.withUnsafeBytes { try append($0) }
    }

    private func flush() throws {
        if !buffer.isEmpty { try handle.write(contentsOf: buffer) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Completes a raw component: writes the header with the payload checksum and flushes the file.
    func finishRaw() throws -> Int {
        try flush()
        let sum = plaid_checksum_final(&checksum)
        let header = ComponentHeader(component: component, encoding: .raw, decodedLength: UInt64(written),
                                     storedLength: UInt64(written), payloadChecksum: sum)
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: header.serialized())
        try handle.synchronize()
        try handle.close()
        return ComponentHeader.size + written
    }

    /// Writes a whole in-memory payload, zstd-compressed if `compress` is set.
    static func write(directory: String, component: IndexComponent, payload: [UInt8], compress: Bool) throws -> Int {
        try write(path: (directory as NSString).appendingPathComponent(component.fileName), component: component,
                  payload: payload, compress: compress)
    }

    static func write(path: String, component: IndexComponent, payload: [UInt8], compress: Bool) throws -> Int {
        let writer = try ComponentWriter(path: path, component: component)
        guard compress else {
            try writer.append(contentsOf: payload)
            return try writer.finishRaw()
        }
        let stored = try payload.withUnsafeBytes { try Zstd.compress($0, level: 9) }
        let sum = stored.withUnsafeBytes { plaid_checksum64($0.baseAddress, $0.count, UInt64(component.rawValue)) }
        let header = ComponentHeader(component: component, encoding: .zstd, decodedLength: UInt64(payload.count),
                                     storedLength: UInt64(stored.count), payloadChecksum: sum)
        try writer.handle.seek(toOffset: 0)
        try writer.handle.write(contentsOf: header.serialized())
        try writer.handle.write(contentsOf: stored)
        try writer.handle.synchronize()
        try writer.handle.close()
        return ComponentHeader.size + stored.count
    }
}
