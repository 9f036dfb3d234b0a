import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder
import PlaidIndex
import PlaidServer

/// `plaid serve`: the HTTP API over one index (docs/openapi.json).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve an index over HTTP: search, filtered search, add, delete, rerank and encode (docs/openapi.json).",
        discussion: """
        Binds to loopback by default. There is no authentication: to expose the server, put a reverse proxy \
        that authenticates and terminates TLS in front of it. Each write request is one commit, on disk before \
        it is answered; SIGTERM or SIGINT finishes the requests in flight, then stops. The server holds the \
        index's writer lock while it runs.
        """)

    @Option(help: "Index directory.")
    var index: String

    @Option(help: "ColBERT model that encodes the texts of requests (a model folder). Without it, requests must carry embeddings.")
    var model: String?

    @Option(help: ArgumentHelp(MatrixPrecision.help, valueName: "int16|float32"))
    var precision: MatrixPrecision = .int16

    @Option(help: "Address to bind; the default answers this machine only.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind; 0 picks a free one (the bound port is printed).")
    var port = 8080

    @Option(help: "Searches, reranks and encodings served at once.")
    var threads = Parallel.defaultThreadCount

    @Flag(help: "Create an empty index at --index when there is none (needs --dim); its first added documents train the codebook.")
    var create = false

    @Option(help: "Dimension of the vectors of an index made by --create (default: the model's).")
    var dim: Int?

    @Option(help: "Bits per dimension of the residual codes of an index made by --create: 1, 2 or 4.")
    var nbits = 2

    @Option(help: "Largest request body, in MiB.")
    var maxBodyMib = 64

    @Option(help: "Most queries, documents, ids or texts in one request.")
    var maxItems = 10_000

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be between 0 and 65535, not \(port).") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, not \(threads).") }
        guard maxBodyMib >= 1 else { throw ValidationError("--max-body-mib must be at least 1, not \(maxBodyMib).") }
        guard maxItems >= 1 else { throw ValidationError("--max-items must be at least 1, not \(maxItems).") }
        guard [1, 2, 4].contains(nbits) else { throw ValidationError("--nbits must be 1, 2 or 4, not \(nbits).") }
        if dim != nil && !create { throw ValidationError("--dim goes with --create.") }
        if let dim, dim < 8 || dim % 8 != 0 { throw ValidationError("--dim must be a positive multiple of 8, not \(dim).") }
        if create && dim == nil && model == nil { throw ValidationError("--create needs --dim (or --model, whose dimension it takes).") }
    }

    func run() async throws {
        reporting.apply()
        // Graceful shutdown replaces the handlers that exit at once: requests in flight finish first.
        await MainActor.run { interruptions.forEach { $0.cancel() } }
        try await runReportingErrors {
            let encoder = try model.map { try ColBERTEncoder(modelPath: $0, precision: precision) }
            if create && !FileManager.default.fileExists(atPath: index) {
                let dimension = dim ?? encoder!.dimension
                try IndexBuilder.createEmpty(at: index, dim: dimension, parameters: BuildParameters(nbits: nbits),
                                             model: encoder?.identity)
                printStatus("created an empty index at \(index) (dimension \(dimension), \(nbits) bits)")
            }
            var configuration = ServerConfiguration()
            configuration.host = host
            configuration.port = port
            configuration.threads = threads
            configuration.limits.maxBodyBytes = maxBodyMib << 20
            configuration.limits.maxItemsPerRequest = maxItems
            let host = self.host, index = self.index
            try await PlaidServer.run(indexPath: index, encoder: encoder, configuration: configuration) { bound in
                // Standard output, flushed: scripts and tests wait for this line to learn the port.
                print("plaid serve: listening on http://\(host.contains(":") ? "[\(host)]" : host):\(bound) (index \(index))")
                fflush(stdout)
            }
            printStatus("plaid serve: stopped; every answered write is committed")
        }
    }
}
