// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "plaid",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PlaidCore", targets: ["PlaidCore"]),
        .library(name: "PlaidIndex", targets: ["PlaidIndex"]),
        .library(name: "PlaidEncoder", targets: ["PlaidEncoder"]),
        .library(name: "PlaidEvaluation", targets: ["PlaidEvaluation"]),
        .library(name: "PlaidServer", targets: ["PlaidServer"]),
        .executable(name: "plaid", targets: ["plaid"]),
        // The C interface the Python package loads (python/plaid/_native.py).
        .library(name: "PlaidC", type: .dynamic, targets: ["PlaidC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // No traits: the server needs neither swift-configuration nor the full-Foundation extras.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // The server runs its application in a service group of its own, for a bounded graceful shutdown.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // NIO's HTTP/1.1 parts, for the checks on a request head before Hummingbird reads it.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries: a module map and a shim header each, no Swift API.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite",
                       providers: [.apt(["libsqlite3-dev"])]),
        // The few hot loops, in C so that `target_clones` can pick AVX2/AVX-512 at load time
        // while the package itself builds for generic x86-64 without unsafe flags.
        .target(name: "PlaidKernels", path: "Sources/PlaidKernels"),
        // System calls Swift's Glibc module does not expose (renameat2), no Swift API.
        .target(name: "CSystemCalls", path: "Sources/CSystemCalls"),
        // FTS5 auxiliary functions (BM25 with the whole index's statistics), called per matching
        // row inside SQLite, so in C. Links Debian's libsqlite3, as CSQLite does.
        .target(name: "CFullText", path: "Sources/CFullText", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(name: "PlaidCore", dependencies: ["CBLAS", "CZstd", "PlaidKernels"]),
        .target(name: "PlaidIndex", dependencies: ["PlaidCore", "PlaidKernels", "CSystemCalls", "CSQLite", "CFullText"]),
        .target(name: "PlaidEncoder", dependencies: ["PlaidCore", "PlaidKernels"]),
        .target(name: "PlaidEvaluation", dependencies: ["PlaidCore", "PlaidIndex"]),
        // The HTTP API (`plaid serve`): routes over the living index, filtered search and the encoder.
        .target(name: "PlaidServer", dependencies: [
            "PlaidCore", "PlaidIndex", "PlaidEncoder",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], resources: [.embedInCode("openapi.json")]),
        // @_cdecl functions over the libraries: opaque handles, numpy buffers in place, errors as sentences.
        .target(name: "PlaidC", dependencies: ["PlaidCore", "PlaidIndex", "PlaidEncoder"]),
        .executableTarget(name: "plaid", dependencies: [
            "PlaidCore", "PlaidIndex", "PlaidEncoder", "PlaidEvaluation", "PlaidServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "PlaidCoreTests", dependencies: ["PlaidCore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PlaidIndexTests", dependencies: ["PlaidIndex", "PlaidCore", "PlaidKernels"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "PlaidEncoderTests", dependencies: ["PlaidEncoder", "PlaidCore", "PlaidKernels"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "PlaidEvaluationTests", dependencies: ["PlaidEvaluation"],
                    resources: [.copy("Fixtures")]),
        // The real binary's commands, `plaid serve` among them (its tests also reach PlaidServer's internals).
        .testTarget(name: "PlaidCLITests", dependencies: ["plaid", "PlaidCore", "PlaidIndex", "PlaidServer"]),
        // The HTTP API in process, without a network: routes, error mapping, access rules and limits.
        .testTarget(name: "PlaidServerTests", dependencies: [
            "PlaidServer", "PlaidCore", "PlaidIndex",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
