// The server's request bodies: PlaidCore's JSON reader (Sources/PlaidCore/JSON/) under the
// server's limits, with its errors phrased for clients (Sources/PlaidServer/HTTP/JSONReader.swift),
// and the request types (Requests.swift): the input is a body. Every request type reads the parsed
// value, and the compact text the server stores as a JSON metadata value must parse again to the
// same text.
//
// JSONReader.swift and Requests.swift are the server's own files, linked into this target (not
// copies): this harness is compiled with them and a stand-in for APIError (APIError.swift here)
// instead of importing PlaidServer, whose Hummingbird dependency would make the fuzzing build
// 15 minutes longer.
import FuzzSupport
import PlaidCore
import PlaidIndex

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = input(data, size)
    guard let value = try? JSONReader.parseRequestBody(bytes) else { return 0 }
    _ = try? SearchRequest(json: value)
    _ = try? AddRequest(json: value)
    _ = try? DeleteRequest(json: value)
    _ = try? RerankRequest(json: value)
    _ = try? EncodeRequest(json: value)
    _ = try? DocumentInput(json: value, at: "documents[0]")
    _ = value.metadataValue()
    let text = value.compactText
    guard let again = try? JSONReader.parseRequestBody(Array(text.utf8)) else {
        fatalError("compactText wrote JSON that does not parse: \(text)")
    }
    precondition(again.compactText == text, "compactText is not stable: \(text) became \(again.compactText)")
    return 0
}
