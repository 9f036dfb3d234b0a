import Foundation
import PlaidCore
import PlaidEvaluation

/// What the collection tools take from their command line `TOOL EMB QEMB QRELS [WORK]`: document
/// embeddings, the judged queries' embeddings, the judgments, and a work folder.
public struct CollectionRun {
    public let documents: DocumentEmbeddings
    /// The queries the judgments judge, in their file order.
    public let queries: QueryEmbeddings
    public let qrels: Qrels
    public let work: String

    /// Reads the arguments, or prints the usage and exits with 2.
    public init(tool: String) throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 4 else {
            FileHandle.standardError.write(Data("usage: \(tool) EMB QEMB QRELS [WORK]\n".utf8))
            exit(2)
        }
        documents = try DocumentEmbeddings(directory: arguments[1])
        qrels = try Qrels.load(path: arguments[3])
        queries = try QueryEmbeddings(directory: arguments[2]).subset(ids: Set(qrels.queryIDs))
        work = arguments.count > 4 ? arguments[4] : (NSTemporaryDirectory() as NSString).appendingPathComponent("plaid-\(tool)-\(getpid())")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        FileHandle.standardError.write(Data("\(documents.documentCount) documents, \(documents.tokenCount) tokens of dimension \(documents.dim); \(queries.count) judged queries\n".utf8))
    }

    public func path(_ name: String) -> String { (work as NSString).appendingPathComponent(name) }
}

/// The value of `body` and the seconds it took.
public func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let started = DispatchTime.now().uptimeNanoseconds
    let value = try body()
    return (value, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
}

public func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
