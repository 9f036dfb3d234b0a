/// A document id as a dictionary key: compared and hashed by its UTF-8 bytes.
///
/// Ids compare by their UTF-8 bytes everywhere: in a batch, in the index, in filters and in the
/// server. Swift's `String` equality follows Unicode canonical equivalence ("café" spelled with
/// U+00E9 equals "cafe" followed by U+0301), while the index's files and SQLite store and compare
/// bytes; keying ids by `String` would make one of two such documents shadow, replace or delete
/// the other. Two ids that differ in any byte are two documents.
public struct ByteExactID: Hashable, Sendable {
    public let id: String

    public init(_ id: String) { self.id = id }

    public static func == (a: ByteExactID, b: ByteExactID) -> Bool { a.id.utf8.elementsEqual(b.id.utf8) }

    public func hash(into hasher: inout Hasher) {
        var id = id
        id.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
