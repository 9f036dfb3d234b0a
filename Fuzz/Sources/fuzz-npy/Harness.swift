// NPY files (`NPYArray(path:)`, Sources/PlaidCore/NPY.swift): the input is the whole file.
// An accepted file's elements are all read back, as the encoder and index builder do.
import FuzzSupport
@testable import PlaidCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = scratchFile("input.npy", UnsafeRawBufferPointer(input(data, size)))
    guard let array = try? NPYArray(path: path) else { return 0 }
    let count = array.elementCount
    precondition(count >= 0 && array.dataOffset + count * array.elementType.byteCount <= array.file.count)
    var floats = [Float](repeating: 0, count: count)
    floats.withUnsafeMutableBufferPointer { if count > 0 { array.copyFloats(start: 0, count: count, into: $0.baseAddress!) } }
    _ = try? array.integers()
    return 0
}
