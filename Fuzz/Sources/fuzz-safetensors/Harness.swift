// safetensors files (`SafeTensorsFile(path:)`, Sources/PlaidEncoder/Weights/SafeTensors.swift):
// the input is the whole file (8-byte header length, JSON header, data). Every tensor of an
// accepted file is read as floats, as the model loader does.
import FuzzSupport
import PlaidCore
@testable import PlaidEncoder

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = scratchFile("input.safetensors", UnsafeRawBufferPointer(input(data, size)))
    guard let file = try? SafeTensorsFile(path: path) else { return 0 }
    for name in file.tensors.keys.sorted() {
        guard let storage = try? file.floats(name) else { continue }
        // Touch every value: a tensor that ran past the mapping would fault here.
        var sum: Float = 0
        for i in 0..<storage.count { sum += storage.pointer[i] }
        blackHole(sum)
    }
    return 0
}

@inline(never) func blackHole(_ value: Float) { if value == 12345.678 { print("") } }
