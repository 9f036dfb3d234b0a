// swift-tools-version:6.1
// Benchmarks of plaid, in a package of their own so that the library does not depend on
// package-benchmark. Run from this folder: `swift package benchmark` (results in docs/benchmarks.md).
import PackageDescription

let package = Package(
    name: "PlaidBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "plaid", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "IndexBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PlaidIndex", package: "plaid"),
                .product(name: "PlaidCore", package: "plaid"),
            ],
            path: "Benchmarks/IndexBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Not package-benchmark targets: one run each on a real collection's embeddings (see their headers).
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "PlaidCore", package: "plaid"),
                .product(name: "PlaidEvaluation", package: "plaid"),
            ],
            path: "Benchmarks/Support"
        ),
        .executableTarget(
            name: "living-index",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "PlaidIndex", package: "plaid"),
                .product(name: "PlaidCore", package: "plaid"),
                .product(name: "PlaidEvaluation", package: "plaid"),
            ],
            path: "Benchmarks/LivingIndex"
        ),
        .executableTarget(
            name: "filtered-search",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "PlaidIndex", package: "plaid"),
                .product(name: "PlaidCore", package: "plaid"),
            ],
            path: "Benchmarks/FilteredSearch"
        ),
        .executableTarget(
            name: "serve-load",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "PlaidIndex", package: "plaid"),
                .product(name: "PlaidCore", package: "plaid"),
            ],
            path: "Benchmarks/ServeLoad"
        ),
        .executableTarget(
            name: "assignment-misses",
            dependencies: [
                .product(name: "PlaidIndex", package: "plaid"),
                .product(name: "PlaidCore", package: "plaid"),
            ],
            path: "Benchmarks/AssignmentMisses"
        ),
        .executableTarget(
            name: "open-index",
            dependencies: [.product(name: "PlaidIndex", package: "plaid")],
            path: "Benchmarks/OpenIndex"
        ),
        .executableTarget(
            name: "EncoderBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PlaidEncoder", package: "plaid"),
                .product(name: "PlaidCore", package: "plaid"),
            ],
            path: "Benchmarks/EncoderBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
