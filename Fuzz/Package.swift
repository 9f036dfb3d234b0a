// swift-tools-version:6.1
// libFuzzer harnesses for plaid's parsers of outside input, in a package of their own (like
// Benchmarks/) so that the root package neither builds nor links them. Each executable target is
// one harness: a `LLVMFuzzerTestOneInput` and no `main` (libFuzzer brings it). They only link when
// built with the fuzzer sanitizer, so build and run them with `scripts/fuzz.sh` (see its header),
// not with a plain `swift build` here.
import PackageDescription

let harnesses: [(name: String, products: [String])] = [
    // Compiled from the server's JSON files themselves (see its Harness.swift), not PlaidServer.
    ("fuzz-json-request", ["PlaidIndex", "PlaidCore"]),
    ("fuzz-text-collection", ["PlaidCore"]),
    ("fuzz-metadata-jsonl", ["PlaidIndex", "PlaidCore"]),
    ("fuzz-npy", ["PlaidCore"]),
    ("fuzz-safetensors", ["PlaidEncoder", "PlaidCore"]),
    ("fuzz-tokenizer", ["PlaidEncoder", "PlaidCore"]),
    ("fuzz-component", ["PlaidIndex", "PlaidCore"]),
    ("fuzz-filter", ["PlaidIndex", "PlaidCore"]),
]

let package = Package(
    name: "PlaidFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "plaid", path: ".."),
    ],
    targets: [
        // Scratch files for harnesses whose parser reads a path.
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport"),
    ] + harnesses.map { harness in
        .executableTarget(
            name: harness.name,
            dependencies: ["FuzzSupport"] + harness.products.map { .product(name: $0, package: "plaid") },
            path: "Sources/\(harness.name)"
        )
    },
    swiftLanguageModes: [.v5]
)
