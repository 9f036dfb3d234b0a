import Foundation

/// Removes the files of an index directory that no commit names: segment directories, centroid
/// files and manifest temporaries left by killed writers, deletion bitmaps and segments replaced by
/// later commits, scratch files, and a version-1 index's files once a manifest has replaced them.
/// Only names plaid writes are ever removed. Readers that opened an older commit keep their files
/// through their memory maps. Only the index's writer (holding its lock) may collect.
enum GarbageCollector {
    /// Removes what `committed`, the last commit of the index at `indexDirectory`, does not name.
    /// Best effort: a file that cannot be removed stays for the next collection.
    static func collect(indexDirectory path: String, committed: Manifest) {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: path) else { return }
        let version2 = fm.fileExists(atPath: (path as NSString).appendingPathComponent(IndexComponent.manifest.fileName))
        let liveSegments = Set(version2 ? committed.segments.map(\.name) : [])
        let liveCentroids = version2 ? committed.codebook.centroidsFile : ""
        let version1Files = Set(IndexComponent.version1Components.map(\.fileName))
        for entry in entries {
            let full = (path as NSString).appendingPathComponent(entry)
            let stale = (entry.hasPrefix("seg-") && !liveSegments.contains(entry))
                || (entry.hasPrefix("centroids-") && entry.hasSuffix(".plaid") && entry != liveCentroids)
                || (entry.hasPrefix(IndexComponent.manifest.fileName + ".") && entry.hasSuffix(".tmp"))
                || (version2 && version1Files.contains(entry))
            if stale { try? fm.removeItem(atPath: full) }
        }
        for segment in committed.segments where version2 {
            let segmentDirectory = (path as NSString).appendingPathComponent(segment.name)
            for entry in (try? fm.contentsOfDirectory(atPath: segmentDirectory)) ?? [] {
                let stale = (entry.hasPrefix("deleted-") && entry != segment.deletionsFile) || entry.hasSuffix(".scratch")
                if stale { try? fm.removeItem(atPath: (segmentDirectory as NSString).appendingPathComponent(entry)) }
            }
        }
    }
}
