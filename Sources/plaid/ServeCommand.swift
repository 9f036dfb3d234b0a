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
        Binds to loopback by default and answers only requests whose Host header names it (a loopback name, \
        --host, or an --allowed-host), whose Origin, if any, is its own, and whose body is \
        Content-Type: application/json. With --api-key-file every route but /health needs \
        "Authorization: Bearer KEY"; a --host other than loopback needs one (or an explicit --no-auth). \
        There is no TLS: put a reverse proxy that terminates TLS in front of a server others reach. \
        Each write request is one commit, on disk before it is answered; SIGTERM or SIGINT finishes the \
        requests in flight (for at most --shutdown-timeout), then stops. The server holds the index's \
        writer lock while it runs, unless --read-only.
        """)

    @Option(help: "Index directory.")
    var index: String

    @Option(help: "ColBERT model that encodes the texts of requests (a model folder). Without it, requests must carry embeddings.")
    var model: String?

    @Option(help: ArgumentHelp(MatrixPrecision.help, valueName: "int16|float32"))
    var precision: MatrixPrecision = .int16

    @Option(help: "Address to bind; the default answers this machine only. Any other needs --api-key-file (or --no-auth).")
    var host = "127.0.0.1"

    @Option(name: .customLong("allowed-host"), help: ArgumentHelp("A name (NAME or NAME:PORT) the Host header may give besides the loopback names and --host, such as a reverse proxy's; repeatable.", valueName: "name"))
    var allowedHosts: [String] = []

    @Option(help: ArgumentHelp("File holding the API key: every route but /health then needs the header \"Authorization: Bearer KEY\".", valueName: "file"))
    var apiKeyFile: String?

    @Flag(help: "Serve a --host other than loopback without an API key (behind a proxy that authenticates).")
    var noAuth = false

    @Flag(help: "Serve searches only: take no writer lock (the index may be on a read-only file system, or served beside a writer); writes get a 403.")
    var readOnly = false

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

    @Flag(help: "With --create: the index stores each added document's text, for searches with \"mode\": \"bm25\" or \"hybrid\".")
    var storeText = false

    @Option(help: "With --create --store-text: the FTS5 tokenizer (default 'unicode61 remove_diacritics 2').")
    var ftsTokenizer: String?

    /// The stored-text settings --store-text and --fts-tokenizer ask for (nil without --store-text).
    var storedText: StoredTextSettings? {
        get throws { try storedTextSettings(storeText: storeText, tokenizer: ftsTokenizer) }
    }

    @Option(help: "Largest request body, in MiB.")
    var maxBodyMib = 64

    @Option(help: "Most queries, documents, ids or texts in one request.")
    var maxItems = 10_000

    @Option(help: "Largest k of a search or rerank.")
    var maxK = 1_000

    @Option(help: "Most vectors in one query given as embeddings.")
    var maxQueryTokens = 512

    @Option(help: "Most vectors × k of one query (a 32-vector query may ask for k up to 4,096).")
    var maxTokensTimesK = 131_072

    @Option(help: "Most entries one search answers with: queries × k, times 1 + the query tokens when matches are asked for.")
    var maxResults = 250_000

    @Option(help: "Largest ndocs (candidate documents) a search may ask for.")
    var maxNdocs = 65_536

    @Option(help: "Largest ncells (centroids probed per query vector) a search may ask for.")
    var maxNcells = 64

    @Option(help: "Most texts the model encodes for one request.")
    var maxTexts = 128

    @Option(help: "Longest text (query, document or encode text), in UTF-8 bytes.")
    var maxTextBytes = 16_384

    @Option(help: "Seconds a request may take: its body must arrive within them (408) and its work is stopped past them (503, checked between stages); 0: no limit.")
    var requestTimeout: Double = 60

    @Option(help: "Seconds a metadata filter may run before it is stopped (400).")
    var filterTimeLimit: Double = MetadataFilter.defaultTimeLimit

    @Option(help: "Connections served at once; more wait until one closes.")
    var maxConnections = 256

    @Option(help: "Seconds a connection may stay silent, between requests or within one, before it is closed.")
    var idleTimeout: Double = 60

    @Option(help: "Seconds a request's headers may take to arrive, from the connection's opening or the previous answer, before the connection is closed.")
    var headerTimeout: Double = 10

    @Option(help: "Seconds SIGTERM or SIGINT waits for requests in flight before the server stops anyway.")
    var shutdownTimeout: Double = 30

    @OptionGroup var pooling: PoolingOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be between 0 and 65535, not \(port).") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, not \(threads).") }
        guard maxBodyMib >= 1 else { throw ValidationError("--max-body-mib must be at least 1, not \(maxBodyMib).") }
        guard maxItems >= 1 else { throw ValidationError("--max-items must be at least 1, not \(maxItems).") }
        for (name, value) in [("--max-k", maxK), ("--max-query-tokens", maxQueryTokens), ("--max-tokens-times-k", maxTokensTimesK), ("--max-results", maxResults),
                              ("--max-ndocs", maxNdocs), ("--max-ncells", maxNcells), ("--max-texts", maxTexts), ("--max-text-bytes", maxTextBytes),
                              ("--max-connections", maxConnections)] {
            guard value >= 1 else { throw ValidationError("\(name) must be at least 1, not \(value).") }
        }
        guard filterTimeLimit > 0 else { throw ValidationError("--filter-time-limit must be a positive number of seconds, not \(filterTimeLimit).") }
        guard requestTimeout >= 0 else { throw ValidationError("--request-timeout must be 0 (no limit) or more seconds, not \(requestTimeout).") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be more than 0 seconds, not \(idleTimeout).") }
        guard headerTimeout > 0 else { throw ValidationError("--header-timeout must be more than 0 seconds, not \(headerTimeout).") }
        guard shutdownTimeout > 0 else { throw ValidationError("--shutdown-timeout must be more than 0 seconds, not \(shutdownTimeout).") }
        if readOnly && create { throw ValidationError("--read-only cannot --create an index.") }
        if noAuth && apiKeyFile != nil { throw ValidationError("--no-auth and --api-key-file contradict each other; give one.") }
        guard [1, 2, 4].contains(nbits) else { throw ValidationError("--nbits must be 1, 2 or 4, not \(nbits).") }
        if dim != nil && !create { throw ValidationError("--dim goes with --create.") }
        if storeText && !create { throw ValidationError("--store-text goes with --create; an existing index stores text if it was built with --store-text.") }
        if ftsTokenizer != nil && !storeText { throw ValidationError("--fts-tokenizer goes with --store-text.") }
        if storeText { _ = try storedText }
        if let dim, dim < 8 || dim % 8 != 0 || dim > IndexBuilder.maximumDimension {
            throw ValidationError("--dim must be a positive multiple of 8 of at most \(IndexBuilder.maximumDimension), not \(dim).")
        }
        if create && dim == nil && model == nil { throw ValidationError("--create needs --dim (or --model, whose dimension it takes).") }
        if pooling.poolFactor > 1 && model == nil { throw ValidationError("--pool-factor pools the documents the server encodes: it needs --model.") }
    }

    func run() async throws {
        reporting.apply()
        // Graceful shutdown replaces the handlers that exit at once: requests in flight finish first.
        await MainActor.run { interruptions.forEach { $0.cancel() } }
        try await runReportingErrors {
            // Refused before the model loads or anything binds: one sentence, exit 1.
            let apiKey = try apiKeyFile.map(readAPIKey)
            if apiKey == nil && !noAuth && !Serve.isLoopback(host) {
                throw PlaidError.invalidArgument("--host \(host) answers other machines, so the server needs an API key: give --api-key-file FILE (or --no-auth if a proxy in front authenticates)")
            }
            let encoder = try model.map { try ColBERTEncoder(modelPath: $0, precision: precision) }
            if create && storeText && FileManager.default.fileExists(atPath: index) {
                printWarning("--store-text is not applied: an index is already at \(index), and it stores text only if it was made with --store-text")
            }
            if create && !FileManager.default.fileExists(atPath: index) {
                let dimension = dim ?? encoder!.dimension
                try IndexBuilder.createEmpty(at: index, dim: dimension, parameters: BuildParameters(nbits: nbits, storedText: try storedText),
                                             model: encoder?.identity)
                printStatus("created an empty index at \(index) (dimension \(dimension), \(nbits) bits\(storeText ? ", storing text" : ""))")
            }
            let configuration = serverConfiguration(apiKey: apiKey)
            let host = self.host, index = self.index
            try await PlaidServer.run(indexPath: index, encoder: encoder, configuration: configuration) { bound in
                // Standard output, flushed: scripts and tests wait for this line to learn the port.
                print("plaid serve: listening on http://\(host.contains(":") ? "[\(host)]" : host):\(bound) (index \(index))")
                fflush(stdout)
            }
            printStatus(readOnly ? "plaid serve: stopped" : "plaid serve: stopped; every answered write is committed")
        }
    }

    /// The server's settings from the options; `apiKey` is the key read from --api-key-file.
    private func serverConfiguration(apiKey: String?) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.threads = threads
        configuration.poolFactor = pooling.poolFactor
        configuration.limits.maxBodyBytes = maxBodyMib << 20
        configuration.limits.maxItemsPerRequest = maxItems
        configuration.limits.maxK = maxK
        configuration.limits.maxQueryTokens = maxQueryTokens
        configuration.limits.maxTokensTimesK = maxTokensTimesK
        configuration.limits.maxResults = maxResults
        configuration.limits.maxNdocs = maxNdocs
        configuration.limits.maxNcells = maxNcells
        configuration.limits.maxTexts = maxTexts
        configuration.limits.maxTextBytes = maxTextBytes
        configuration.limits.requestTimeout = requestTimeout > 0 ? requestTimeout : nil
        configuration.limits.filterTimeLimit = filterTimeLimit
        configuration.allowedHosts = allowedHosts
        configuration.apiKey = apiKey
        configuration.readOnly = readOnly
        configuration.idleTimeout = idleTimeout
        configuration.headerTimeout = headerTimeout
        configuration.maxConnections = maxConnections
        configuration.shutdownTimeout = shutdownTimeout
        return configuration
    }

    /// The key in `path`, without surrounding whitespace (a trailing newline is usual).
    private func readAPIKey(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PlaidError.invalidArgument("--api-key-file \(path) cannot be read; give a file holding the API key")
        }
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard key.count >= 16, !key.contains(where: \.isWhitespace) else {
            throw PlaidError.invalidArgument("--api-key-file \(path) must hold one key of at least 16 characters without spaces")
        }
        return key
    }

    /// Whether `host` is an address of this machine only.
    static func isLoopback(_ host: String) -> Bool {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return name == "localhost" || name == "::1" || name.hasPrefix("127.")
    }
}
