import PlaidCore

/// How `plaid serve` listens and what it accepts.
public struct ServerConfiguration: Sendable {
    /// Loopback by default: the server has no authentication (see the README).
    public var host = "127.0.0.1"
    /// 0 picks a free port; the bound one is printed.
    public var port = 8080
    /// Searches, reranks and encodings that run at once (the search pool's threads).
    public var threads = Parallel.defaultThreadCount
    public var limits = Limits()

    public init() {}

    /// Past a limit a request is answered 413 (body, items) or 400 (k, tokens), naming the limit.
    public struct Limits: Sendable {
        public var maxBodyBytes = 64 << 20
        /// Queries, documents, ids or texts in one request.
        public var maxItemsPerRequest = 10_000
        public var maxK = 10_000
        /// Vectors of one query (given as embeddings).
        public var maxQueryTokens = 512

        public init() {}
    }
}
