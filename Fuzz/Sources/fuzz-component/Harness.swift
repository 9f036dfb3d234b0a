// Index component files and the manifest (`ComponentReader`, `Manifest.read`,
// Sources/PlaidIndex/Format/ComponentFile.swift and Manifest.swift). Three passes per input:
//  1. the input as a whole file, opened as the component its header names (the manifest if none);
//  2. the same with both checksums recomputed, so that mutations get past them to the lengths,
//     the encoding and the zstd payload;
//  3. the input as the JSON payload of a well-formed manifest file (raw or zstd, by length), read
//     with `Manifest.read`.
import FuzzSupport
import Foundation
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

func load32(_ b: [UInt8], _ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[offset + $1]) << (8 * $1) } }
func store64(_ b: inout [UInt8], _ offset: Int, _ v: UInt64) { for i in 0..<8 { b[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }

@inline(never) func touch(_ payload: UnsafeRawBufferPointer) -> UInt8 { payload.reduce(0, ^) }

func open(_ bytes: [UInt8]) {
    let component = bytes.count >= 16 ? IndexComponent(rawValue: load32(bytes, 12)) ?? .manifest : .manifest
    let path = scratchFile(component.fileName, bytes)
    // A manifest bounds each component's size; 16 MiB stands for one here.
    if let reader = try? ComponentReader(path: path, component: component, size: .atMost(1 << 24), verifyChecksum: true) {
        _ = touch(reader.payload)
    }
    if component == .manifest { _ = try? Manifest.read(path: path) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(input(data, size))
    open(bytes)
    if bytes.count >= ComponentHeader.size {
        var fixed = bytes
        let seed = UInt64(IndexComponent(rawValue: load32(fixed, 12))?.rawValue ?? IndexComponent.manifest.rawValue)
        let payloadSum = fixed.withUnsafeBytes { plaid_checksum64($0.baseAddress! + ComponentHeader.size, $0.count - ComponentHeader.size, seed) }
        store64(&fixed, 40, payloadSum)
        store64(&fixed, 48, fixed.withUnsafeBytes { plaid_checksum64($0.baseAddress, 48, 0) })
        open(fixed)
    }
    let path = (scratchDirectory as NSString).appendingPathComponent("payload-manifest.plaid")
    if (try? ComponentWriter.write(path: path, component: .manifest, payload: bytes, compress: size % 2 == 1)) != nil {
        _ = try? Manifest.read(path: path)
    }
    return 0
}
