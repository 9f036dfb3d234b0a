// Metadata JSONL (`MetadataReader`, Sources/PlaidIndex/Metadata/MetadataValue.swift), the file of
// `plaid build/add --metadata` and the fields of a JSONL collection's lines: the input is the
// whole file. Each parsed batch is merged into a schema as `plaid add` does.
import FuzzSupport
import PlaidCore
@testable import PlaidIndex

/// The batch the metadata must name: the ids of the seed corpus.
let batchIDs: [String] = ["d1", "d2", "d3", "doc-1", "doc-2", "a", "b", "é", ""]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = input(data, size)
    let path = scratchFile("metadata.jsonl", UnsafeRawBufferPointer(bytes))
    if let batch = try? MetadataReader.read(path: path, batchIDs: batchIDs) {
        _ = try? MetadataSchema.merge([], with: batch, order: batch.keys.sorted(), source: path)
    }
    if let batch = try? MetadataReader.fromCollection(path: path) {
        _ = try? MetadataSchema.merge([], with: batch, order: batch.keys.sorted(), source: path)
    }
    return 0
}
