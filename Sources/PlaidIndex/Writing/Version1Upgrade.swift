import Foundation
import PlaidCore

/// The upgrade of a version-1 index (one segment's files and the centroids at the top level, no
/// manifest) to version 2, made by the first commit of a writer. The files are hard-linked
/// (copied where links are not possible) into their version-2 places, so the upgrade costs no
/// copy on most file systems; the version-1 files stay until the manifest that replaces them is
/// committed, and the garbage collection after it removes them.
enum Version1Upgrade {
    /// Links the top-level segment files of the index at `indexDirectory` into `seg-000000`
    /// (replacing what an interrupted upgrade left there) and writes the metadata table a
    /// version-1 index lacked, holding its ids alone. Returns `info` with that table recorded.
    static func linkSegment(_ info: SegmentInfo, indexDirectory path: String) throws -> SegmentInfo {
        let segmentDirectory = (path as NSString).appendingPathComponent(Manifest.segmentName(0))
        try? FileManager.default.removeItem(atPath: segmentDirectory)
        try FileManager.default.createDirectory(atPath: segmentDirectory, withIntermediateDirectories: false)
        for component in IndexComponent.segmentComponents {
            try linkOrCopy((path as NSString).appendingPathComponent(component.fileName),
                           (segmentDirectory as NSString).appendingPathComponent(component.fileName))
        }
        let ids = try IndexStorage.readDocumentIDs(try ComponentReader(directory: segmentDirectory, component: .documentIDs,
                                                                       size: IndexStorage.documentIDsSize(info), verifyChecksum: false),
                                                   expected: info.documentCount)
        let metadata = try MetadataWriter(path: (segmentDirectory as NSString).appendingPathComponent(MetadataStore.fileName), fields: [])
        for (d, id) in ids.enumerated() { try metadata.append(document: d, id: id, values: nil) }
        var upgraded = info
        upgraded.metadataFile = MetadataStore.fileName
        upgraded.metadataChecksum = try metadata.finish()
        AtomicDirectory.syncDirectory(segmentDirectory)
        return upgraded
    }

    /// Links the version-1 centroids file into `centroidsFile` (`centroids-G.plaid`).
    static func linkCentroids(indexDirectory path: String, to centroidsFile: String) throws {
        try linkOrCopy((path as NSString).appendingPathComponent(IndexComponent.centroids.fileName),
                       (path as NSString).appendingPathComponent(centroidsFile))
    }

    private static func linkOrCopy(_ from: String, _ to: String) throws {
        if link(from, to) != 0 { try FileManager.default.copyItem(atPath: from, toPath: to) }
    }
}
