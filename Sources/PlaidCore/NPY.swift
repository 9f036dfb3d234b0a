import Foundation
import PlaidKernels

/// Element types of the NumPy arrays the toolkit reads and writes.
public enum NPYElementType: String, Sendable {
    case float32 = "<f4"
    case float16 = "<f2"
    case int32 = "<i4"
    case int64 = "<i8"

    public var byteCount: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16: return 2
        case .int64: return 8
        }
    }
}

/// A NumPy `.npy` file (format versions 1, 2 and 3), memory-mapped. Only little-endian,
/// C-order arrays of `NPYElementType` are accepted; anything else is an error naming the file.
public final class NPYArray: @unchecked Sendable {
    public let path: String
    public let elementType: NPYElementType
    public let shape: [Int]
    public let file: MappedFile
    /// Byte offset of the first element in the file.
    public let dataOffset: Int

    public var elementCount: Int { shape.reduce(1, *) }
    public var data: UnsafeRawPointer { file.bytes + dataOffset }

    public init(path: String) throws {
        self.path = path
        let name = (path as NSString).lastPathComponent
        file = try MappedFile(path: path)
        let bytes = file.bytes
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // "\x93NUMPY"
        guard file.count >= 6, (0..<6).allSatisfy({ bytes.load(fromByteOffset: $0, as: UInt8.self) == magic[$0] }) else {
            throw PlaidError.invalidInput(file: name, detail: "not a NumPy .npy file (the magic string \\x93NUMPY is missing)")
        }
        guard file.count >= 10 else {
            throw PlaidError.invalidInput(file: name, detail: "the .npy file ends after \(file.count) bytes, inside its preamble (10 bytes); write it again")
        }
        let major = bytes.load(fromByteOffset: 6, as: UInt8.self)
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self).littleEndian)
            headerStart = 10
        case 2, 3:
            guard file.count >= 12 else {
                throw PlaidError.invalidInput(file: name, detail: "the .npy file ends after \(file.count) bytes, inside its preamble (12 bytes); write it again")
            }
            headerLength = Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
            headerStart = 12
        default:
            throw PlaidError.invalidInput(file: name, detail: "unsupported .npy format version \(major) (expected 1, 2 or 3)")
        }
        guard headerStart + headerLength <= file.count else {
            throw PlaidError.invalidInput(file: name, detail: "the .npy header is truncated: its length field says \(headerLength) bytes after byte \(headerStart), and the file has \(file.count) bytes; write it again")
        }
        let headerData = Data(bytes: bytes + headerStart, count: headerLength)
        guard let header = String(data: headerData, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw PlaidError.invalidInput(file: name, detail: "the .npy header is not text")
        }
        let fields = try NPYHeader.parse(header, file: name)
        guard !fields.fortranOrder else {
            throw PlaidError.invalidInput(file: name, detail: "the array is in Fortran order; save it in C order (numpy.ascontiguousarray)")
        }
        let descr = fields.descr == "|f2" ? "<f2" : fields.descr
        guard let type = NPYElementType(rawValue: descr) else {
            throw PlaidError.invalidInput(file: name, detail: "dtype '\(fields.descr)' is not supported (expected little-endian float32 '<f4', float16 '<f2', int32 '<i4' or int64 '<i8')")
        }
        elementType = type
        shape = fields.shape
        dataOffset = headerStart + headerLength
        var elements = 1
        for n in shape + [type.byteCount] {
            let (product, overflow) = elements.multipliedReportingOverflow(by: n)
            guard !overflow else { throw PlaidError.invalidInput(file: name, detail: "shape \(shape) is too large") }
            elements = product
        }
        // Compared as a difference: `dataOffset + elements` can overflow for a huge shape.
        guard elements <= file.count - dataOffset else {
            let needed = dataOffset.addingReportingOverflow(elements)
            throw PlaidError.invalidInput(file: name, detail: "file is truncated: shape \(shape) needs \(needed.overflow ? "more than \(Int.max)" : "\(needed.partialValue)") bytes, the file has \(file.count)")
        }
    }

    /// Copies elements [start, start+count) converted to Float into `out`.
    public func copyFloats(start: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch elementType {
        case .float32:
            UnsafeMutableRawPointer(out).copyMemory(from: data + start * 4, byteCount: count * 4)
        case .float16:
            plaid_float16_to_float32(data + start * 2, out, count)
        case .int32:
            for i in 0..<count { out[i] = Float(data.loadUnaligned(fromByteOffset: (start + i) * 4, as: Int32.self)) }
        case .int64:
            for i in 0..<count { out[i] = Float(data.loadUnaligned(fromByteOffset: (start + i) * 8, as: Int64.self)) }
        }
    }

    /// All elements as integers; the array must have an integer element type.
    public func integers() throws -> [Int] {
        switch elementType {
        case .int32: return (0..<elementCount).map { Int(data.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .int64: return (0..<elementCount).map { Int(data.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        default:
            throw PlaidError.invalidInput(file: (path as NSString).lastPathComponent,
                                          detail: "dtype \(elementType.rawValue) found where int32 '<i4' or int64 '<i8' was expected")
        }
    }
}

/// The Python-literal dictionary of an .npy header: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
enum NPYHeader {
    struct Fields { var descr: String; var fortranOrder: Bool; var shape: [Int] }

    static func parse(_ header: String, file: String) throws -> Fields {
        func fail(_ what: String) -> PlaidError {
            .invalidInput(file: file, detail: "cannot read the .npy header (\(what)): \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        func value(of key: String) -> Substring? {
            for quote in ["'", "\""] {
                if let r = header.range(of: "\(quote)\(key)\(quote)") {
                    var rest = header[r.upperBound...].drop(while: { $0 == " " })
                    guard rest.first == ":" else { return nil }
                    rest = rest.dropFirst().drop(while: { $0 == " " })
                    return rest
                }
            }
            return nil
        }
        guard let d = value(of: "descr"), let q = d.first, q == "'" || q == "\"",
              let end = d.dropFirst().firstIndex(of: q) else { throw fail("no 'descr'") }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        guard let f = value(of: "fortran_order") else { throw fail("no 'fortran_order'") }
        let fortran: Bool
        if f.hasPrefix("True") { fortran = true } else if f.hasPrefix("False") { fortran = false } else { throw fail("bad 'fortran_order'") }
        guard let s = value(of: "shape"), s.first == "(", let close = s.firstIndex(of: ")") else { throw fail("no 'shape'") }
        let inner = s[s.index(after: s.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let n = Int(t.hasSuffix("L") ? String(t.dropLast()) : t), n >= 0 else { throw fail("bad shape entry '\(t)'") }
            shape.append(n)
        }
        return Fields(descr: descr, fortranOrder: fortran, shape: shape)
    }
}

/// Writes a C-order little-endian `.npy` file (format version 1) row by row. The header is
/// written with room to spare and rewritten with the final shape by `finish()`, so the
/// number of rows need not be known in advance.
public final class NPYWriter {
    public let path: String
    public let elementType: NPYElementType
    private let rowShape: [Int]
    private let handle: FileHandle
    private(set) public var rows = 0
    private static let headerSize = 128

    public init(path: String, elementType: NPYElementType, rowShape: [Int]) throws {
        self.path = path
        self.elementType = elementType
        self.rowShape = rowShape
        guard FileManager.default.createFile(atPath: path, contents: nil) , let h = FileHandle(forWritingAtPath: path) else {
            throw PlaidError.io(path: path, detail: "cannot create the file")
        }
        handle = h
        try handle.write(contentsOf: NPYWriter.header(type: elementType, shape: [0] + rowShape))
    }

    static func header(type: NPYElementType, shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(type.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = max(headerSize, ((10 + dict.utf8.count + 1 + 63) / 64) * 64)
        dict += String(repeating: " ", count: total - 10 - dict.utf8.count - 1) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let len = UInt16(total - 10)
        data.append(UInt8(len & 0xFF)); data.append(UInt8(len >> 8))
        data.append(dict.data(using: .ascii)!)
        return data
    }

    /// Appends rows given as Float, converted to the file's element type.
    public func append(_ values: UnsafeBufferPointer<Float>) throws {
        let perRow = rowShape.reduce(1, *)
        precondition(perRow == 0 || values.count % perRow == 0, "partial row")
        switch elementType {
        case .float32:
            try handle.write(contentsOf: Data(buffer: values))
        case .float16:
            let halves = values.map { Float16($0).bitPattern.littleEndian }
            try halves.withUnsafeBufferPointer { try handle.write(contentsOf: Data(buffer: $0)) }
        case .int32:
            let ints = values.map { Int32($0).littleEndian }
            try ints.withUnsafeBufferPointer { try handle.write(contentsOf: Data(buffer: $0)) }
        case .int64:
            let ints = values.map { Int64($0).littleEndian }
            try ints.withUnsafeBufferPointer { try handle.write(contentsOf: Data(buffer: $0)) }
        }
        rows += perRow == 0 ? 0 : values.count / perRow
    }

    /// Appends integers (for int32/int64 files such as doclens).
    public func append(integers: [Int]) throws {
        switch elementType {
        case .int32:
            let ints = integers.map { Int32($0).littleEndian }
            try ints.withUnsafeBufferPointer { try handle.write(contentsOf: Data(buffer: $0)) }
        case .int64:
            let ints = integers.map { Int64($0).littleEndian }
            try ints.withUnsafeBufferPointer { try handle.write(contentsOf: Data(buffer: $0)) }
        default:
            try integers.map { Float($0) }.withUnsafeBufferPointer { try append($0) }
            return
        }
        rows += integers.count / max(1, rowShape.reduce(1, *))
    }

    /// Rewrites the header with the final number of rows and closes the file.
    public func finish() throws {
        let header = NPYWriter.header(type: elementType, shape: [rows] + rowShape)
        guard header.count == NPYWriter.header(type: elementType, shape: [0] + rowShape).count else {
            throw PlaidError.io(path: path, detail: "the .npy header grew past its reserved size")
        }
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: header)
        try handle.synchronize()
        try handle.close()
    }

    /// Writes a whole array at once.
    public static func write(path: String, elementType: NPYElementType, shape: [Int], floats: [Float]) throws {
        let w = try NPYWriter(path: path, elementType: elementType, rowShape: Array(shape.dropFirst()))
        try floats.withUnsafeBufferPointer { try w.append($0) }
        try w.finish()
    }
}
