import Benchmark
import Foundation
import PlaidCore
import PlaidEncoder

// Encoding speed of the default model (all-MiniLM-L6-v2 as ColBERT) on SciFact documents.
// Needs models/minilm-colbert assembled by scripts/setup.sh. The full-corpus comparison with
// PyTorch/PyLate is Benchmarks/compare_encoder.* (it runs both on the same 5,183 documents).

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
private let modelPath = (root as NSString).appendingPathComponent("models/minilm-colbert")
private let corpusPath = (root as NSString).appendingPathComponent("datasets/scifact/corpus.jsonl")

let benchmarks: @Sendable () -> Void = {
    for precision in MatrixPrecision.allCases {
        Benchmark("Encode 512 SciFact documents (default model, \(precision) products)",
                  configuration: .init(metrics: [.wallClock, .peakMemoryResident, .custom("tokens per second", polarity: .prefersLarger)],
                                       timeUnits: .seconds, maxDuration: .seconds(300), maxIterations: 3)) { benchmark in
            let encoder = try ColBERTEncoder(modelPath: modelPath, precision: precision)
            let texts = try TextCollectionReader.read(path: corpusPath).prefix(512).map(\.text)
            let started = DispatchTime.now().uptimeNanoseconds
            benchmark.startMeasurement()
            let vectors = try encoder.encodeDocuments(Array(texts))
            benchmark.stopMeasurement()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            // Model input tokens (real tokens, nothing is padded), the figure compare_encoder.sh reports for both.
            let tokens = encoder.tokensProcessed
            benchmark.measurement(.custom("tokens per second", polarity: .prefersLarger), Int(Double(tokens) / seconds))
            blackHole(vectors)
        }
    }
}
