import PlaidCore
import PlaidIndex

/// How `plaid serve` listens, whom it answers and what it accepts.
public struct ServerConfiguration: Sendable {
    /// Loopback by default; any other address needs an API key (or an explicit `--no-auth`).
    public var host = "127.0.0.1"
    /// 0 picks a free port; the bound one is printed.
    public var port = 8080
    /// Searches, reranks and encodings that run at once (the search pool's threads).
    public var threads = Parallel.defaultThreadCount
    /// Names besides the loopback ones and `host` that a request's `Host` header may give (with
    /// `:port` or without): the names a reverse proxy or clients use. Others are answered 421,
    /// so a web page whose name was rebound to this address cannot reach the API.
    public var allowedHosts: [String] = []
    /// The bearer token every request but `GET /health` must carry; nil: none needed.
    public var apiKey: String?
    /// Serve searches only: no writer lock is taken and writes are answered 403.
    public var readOnly = false
    /// Documents that the server encodes (adds, upserts and the document encodings it returns)
    /// are pooled to about 1/poolFactor of their vectors (`TokenPooling`); 1 keeps them all.
    public var poolFactor = 1
    /// Connections served at once; more wait in the listen backlog until one closes.
    public var maxConnections = 256
    /// Seconds a request's head may take to arrive, from the connection's opening or the previous
    /// response; past them the connection is closed. Shorter than `idleTimeout`, so that
    /// half-sent requests cannot hold every connection for long.
    public var headerTimeout: Double = 10
    /// Seconds a connection may stay silent (between requests, or within one) before it is closed.
    public var idleTimeout: Double = 60
    /// Seconds SIGTERM or SIGINT waits for requests in flight before the server stops anyway.
    public var shutdownTimeout: Double = 30
    public var limits = Limits()

    public init() {}

    /// Past a limit a request is answered 413 (body, items, texts) or 400 (k, tokens), naming
    /// the limit and its option; past `requestTimeout` it is answered 503.
    public struct Limits: Sendable {
        public var maxBodyBytes = 64 << 20
        /// Queries, documents, ids or texts in one request.
        public var maxItemsPerRequest = 10_000
        public var maxK = 1_000
        /// Vectors of one query (given as embeddings).
        public var maxQueryTokens = 512
        /// A query's vectors times k (its cost grows with both).
        public var maxTokensTimesK = 131_072
        /// Entries one search's answer carries: queries × k, times 1 + the query tokens when
        /// matches are asked for.
        public var maxResults = 250_000
        /// Candidate documents (`ndocs`) and probed centroids per query token (`ncells`) a request may ask for.
        public var maxNdocs = 65_536
        public var maxNcells = 64
        /// Texts the model encodes for one request, and the UTF-8 bytes of each.
        public var maxTexts = 128
        public var maxTextBytes = 16_384
        /// Seconds a request may take, checked between its stages; nil: no limit.
        public var requestTimeout: Double? = 60
        /// Seconds a metadata filter may run (SQLite's progress handler stops it past them).
        public var filterTimeLimit = MetadataFilter.defaultTimeLimit

        public init() {}
    }
}
