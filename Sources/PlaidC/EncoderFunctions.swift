import Foundation
import PlaidCore
import PlaidEncoder

// The native ColBERT encoder, for callers that have texts and a model folder. See ABI.swift
// for the conventions.

/// A loaded model; the encoder runs one call at a time (`TextEncoder`'s contract), so calls from
/// several threads wait for each other.
final class EncoderHandle {
    let encoder: TextEncoder
    let batchSize: Int
    let lock = NSLock()

    init(encoder: TextEncoder, batchSize: Int) { self.encoder = encoder; self.batchSize = batchSize }
}

/// Loads the ColBERT model in the folder `path`. Options: precision ("int16" or "float32"),
/// batch_size, pool_factor (documents' vectors merged by this factor; 1 keeps them all).
/// `*out` receives the handle, released with `plaid_encoder_close`.
@_cdecl("plaid_encoder_open")
public func plaid_encoder_open(_ path: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?, _ out: HandleOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        guard let path = string(path) else { throw PlaidError.invalidArgument("no model folder was given") }
        let options = try Options(options, source: "encoder options", known: ["precision", "batch_size", "pool_factor"])
        let precisionName = try options.string("precision") ?? MatrixPrecision.int16.rawValue
        guard let precision = MatrixPrecision(rawValue: precisionName) else {
            throw PlaidError.invalidArgument("encoder options: precision must be \(MatrixPrecision.allCases.map(\.rawValue).joined(separator: " or ")), not '\(precisionName)'")
        }
        let model = try ColBERTEncoder(modelPath: path, precision: precision)
        let encoder = PooledEncoder.pooling(model, factor: try options.int("pool_factor", in: 1...1000) ?? 1)
        let handle = EncoderHandle(encoder: encoder, batchSize: try options.int("batch_size", in: 1...4096) ?? 32)
        out?.pointee = Unmanaged.passRetained(handle).toOpaque()
    }
}

@_cdecl("plaid_encoder_close")
public func plaid_encoder_close(_ handle: UnsafeMutableRawPointer?) {
    guard let handle else { return }
    Unmanaged<EncoderHandle>.fromOpaque(handle).release()
}

/// The model's vector dimension and vectors per query.
@_cdecl("plaid_encoder_shape")
public func plaid_encoder_shape(_ handle: UnsafeMutableRawPointer, _ dimension: UnsafeMutablePointer<Int64>,
                                _ queryLength: UnsafeMutablePointer<Int64>) {
    let encoder = Unmanaged<EncoderHandle>.fromOpaque(handle).takeUnretainedValue().encoder
    dimension.pointee = Int64(encoder.dimension)
    queryLength.pointee = Int64(encoder.queryLength)
}

/// Encodes `n` texts (one UTF-8 buffer with offsets) as queries (`isQuery` ≠ 0) or documents;
/// `*out` receives their vectors (`plaid_vectors_*`).
@_cdecl("plaid_encoder_encode")
public func plaid_encoder_encode(_ handle: UnsafeMutableRawPointer?, _ texts: UnsafePointer<UInt8>?, _ offsets: UnsafePointer<Int64>?,
                                 _ n: Int64, _ isQuery: Int32, _ out: HandleOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        guard let handle else { throw PlaidError.invalidArgument("the encoder is closed") }
        let encoder = Unmanaged<EncoderHandle>.fromOpaque(handle).takeUnretainedValue()
        let items = try strings(texts, offsets, n, what: "texts")
        encoder.lock.lock()
        defer { encoder.lock.unlock() }
        let vectors = try encoder.encoder.vectors(of: items, as: isQuery != 0 ? .query : .document,
                                                  chunk: max(items.count, 1), batchSize: encoder.batchSize)
        out?.pointee = Unmanaged.passRetained(VectorsBox(vectors, dim: encoder.encoder.dimension)).toOpaque()
    }
}
