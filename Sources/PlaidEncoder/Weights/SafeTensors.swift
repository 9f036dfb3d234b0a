import Foundation
import PlaidCore
import PlaidKernels

/// Element types a safetensors file may declare. Only the floating-point ones can be model
/// parameters here; the integer ones appear as buffers (`embeddings.position_ids`).
public enum SafeTensorsDType: String, Sendable {
    case float32 = "F32", float16 = "F16", bfloat16 = "BF16", float64 = "F64"
    case int64 = "I64", int32 = "I32", int16 = "I16", int8 = "I8", uint8 = "U8", bool = "BOOL"

    public var byteCount: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float16 || self == .bfloat16 }
}

/// One `.safetensors` file, memory-mapped: an 8-byte little-endian header length, a JSON header
/// mapping each tensor name to its dtype, shape and byte range, then the raw little-endian data.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct TensorInfo: Sendable {
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        /// Byte offset of the first element, from the start of the file.
        public let offset: Int
        public let byteCount: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let tensors: [String: TensorInfo]
    private let file: MappedFile

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        func corrupt(_ detail: String) -> PlaidError { .invalidInput(file: path, detail: "not a valid safetensors file: \(detail)") }
        guard file.count >= 8 else { throw corrupt("it has \(file.count) bytes, fewer than the 8-byte header length") }
        // Compared as read (unsigned): a length past Int.max must be an error, not a trap.
        let announcedLength = file.bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard announcedLength <= UInt64(file.count - 8) else {
            throw corrupt("the header length \(announcedLength) runs past the end of the file (\(file.count) bytes)")
        }
        let headerLength = Int(announcedLength)
        let headerData = Data(bytes: file.bytes + 8, count: headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw corrupt("the header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: TensorInfo] = [:]
        for (tensorName, value) in header where tensorName != "__metadata__" {
            guard let entry = value as? [String: Any],
                  let dtypeText = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw corrupt("tensor '\(tensorName)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeText) else {
                throw corrupt("tensor '\(tensorName)' has the unsupported dtype \(dtypeText)")
            }
            // Each comparison is made so that no sum or product of untrusted numbers can overflow.
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= file.count - dataStart else {
                throw corrupt("tensor '\(tensorName)' has byte range \(offsets) outside the file")
            }
            let byteCount = offsets[1] - offsets[0]
            var needed: Int? = dtype.byteCount
            for n in shape {
                guard n >= 0, let product = needed?.multipliedReportingOverflow(by: n), !product.overflow else { needed = nil; break }
                needed = product.partialValue
            }
            guard let needed else {
                throw corrupt("tensor '\(tensorName)' has shape \(shape), which is negative or too large")
            }
            guard byteCount == needed else {
                throw corrupt("tensor '\(tensorName)' has \(byteCount) bytes but shape \(shape) of \(dtypeText) needs \(needed)")
            }
            tensors[tensorName] = TensorInfo(dtype: dtype, shape: shape, offset: dataStart + offsets[0], byteCount: byteCount)
        }
        self.tensors = tensors
    }

    /// The tensor's values as Float32. F32 data that is 4-byte aligned is used in place (no copy;
    /// the returned storage keeps the mapping alive); F16 and BF16 are widened into new memory.
    public func floats(_ name: String) throws -> FloatStorage {
        guard let info = tensors[name] else {
            throw PlaidError.invalidInput(file: path, detail: "has no tensor named '\(name)'")
        }
        let source = file.bytes + info.offset
        let count = info.elementCount
        switch info.dtype {
        case .float32 where Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0:
            return FloatStorage(mapped: source.assumingMemoryBound(to: Float.self), count: count, owner: file)
        case .float32:
            return FloatStorage(count: count) { out in
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            }
        case .float16:
            return FloatStorage(count: count) { out in
                plaid_float16_to_float32(source, out, count)
            }
        case .bfloat16:
            // bfloat16 is the upper half of a float32.
            return FloatStorage(count: count) { out in
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16) }
            }
        default:
            throw PlaidError.invalidInput(file: path, detail: "tensor '\(name)' has dtype \(info.dtype.rawValue); model parameters must be F32, F16 or BF16")
        }
    }
}

/// A read-only block of Float32 values: either a view into a memory-mapped file (kept alive by
/// `owner`) or memory of its own.
public final class FloatStorage: @unchecked Sendable {
    public let pointer: UnsafePointer<Float>
    public let count: Int
    private let owner: AnyObject?
    private let owned: UnsafeMutablePointer<Float>?

    init(mapped pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer; self.count = count; self.owner = owner; self.owned = nil
    }

    /// New memory of `count` floats, filled by `fill`.
    public init(count: Int, fill: (UnsafeMutablePointer<Float>) -> Void) {
        let memory = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        fill(memory)
        self.pointer = UnsafePointer(memory); self.count = count; self.owner = nil; self.owned = memory
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count) { out in
            values.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: values.count) }
        }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit { owned?.deallocate() }
}
