import Foundation
import PlaidCore

/// What `IndexWriter.add` did.
public struct AddSummary: Sendable {
    public var documents: Int
    public var tokens: Int
    /// Live documents of the same ids that the batch replaced (upsert).
    public var replaced: Int
    /// Centroids appended to the codebook for this batch's outliers.
    public var newCentroids: Int
    /// Tokens of the batch farther from every centroid than the build's outlier distance
    /// (counted by the growth pass, which a batch of fewer tokens than one new centroid needs skips).
    public var outlierTokens: Int
}

/// What `IndexWriter.delete` did.
public struct DeleteSummary: Sendable {
    public var deleted: Int
    /// Ids that named no live document.
    public var unknown: [String]
}

/// What `IndexWriter.commit` did.
public struct CommitSummary: Sendable {
    /// The last commit made: the compaction's or the last merge's when there was one.
    public var generation: Int
    /// Whether the commit was followed by an automatic compaction.
    public var compacted: Bool
    /// Segments merged away after the commit (`IndexWriter.mergePolicy`).
    public var mergedSegments: Int = 0
    /// Why the compaction or merge that followed the commit failed, when it did. The commit
    /// stands all the same; the next commit, or `maintain()`, tries again.
    public var maintenanceFailure: Error? = nil
}

/// The one writer of an index: adds, deletes and replaces documents, commits, and compacts.
///
/// Changes are staged: `add` writes a new immutable segment that no manifest names yet, `delete`
/// marks documents in memory. `commit` writes the deletion bitmaps and any grown centroids as new
/// files, then makes all of it visible at once by replacing the manifest with a rename. A process
/// killed at any point leaves the previous commit or the new one; the files of an unfinished
/// commit are removed by the next writer. Readers (`CompressedIndex`) are never blocked: they
/// keep the snapshot they opened. Only one writer may be open per index (`writer.lock`).
///
/// Ids are the user's strings and never change; a deleted document is never returned by a
/// snapshot opened after the commit that deleted it.
///
/// The writer keeps the lock and what is staged; the other jobs have types of their own:
/// `CodebookTrainer` trains the first batch's codebook and grows it, `mergePolicy` decides what
/// follows a commit and `SegmentMerger` rewrites the segments it names, `GarbageCollector`
/// removes the files no commit names, and `Version1Upgrade` moves a version-1 index's files.
public final class IndexWriter {
    /// Segments as the next commit will record them, with what the writer must know of each.
    private struct StagedSegment {
        var info: SegmentInfo
        var lengths: [Int]
        var deleted: [UInt64]
        var deletionsChanged = false
        /// Written by this writer and not yet committed.
        var isNew = false
    }

    public let path: String
    /// The last commit, what a reader opening the index now sees.
    public private(set) var committed: Manifest
    /// What follows each commit: a compaction, merges of segments, or nothing.
    public var mergePolicy: any MergePolicy = AdjacentMergePolicy()
    /// Tokens per step when streaming a batch; memory grows with it, not with the batch.
    public var chunkTokens = 1 << 16

    private var lock: IndexLock?
    private var codebook: Codebook
    private var centroids: [Float]
    private var centroidsChanged = false
    private var quantizer: CoarseQuantizer
    private var codec: ResidualCodec
    private var staged: [StagedSegment]
    /// The index's metadata fields, batches staged so far included.
    private var metadataFields: [MetadataField]
    /// Where each live id is; ids compare by their UTF-8 bytes (see `ByteExactID`).
    private var liveIDs: [ByteExactID: (segment: Int, document: Int)] = [:]
    private var nextSegmentNumber: Int
    /// Set when the index is version 1: the first commit links its files into `seg-000000`.
    private var upgradeFromVersion1: Bool

    /// Opens the index at `path` for writing, taking its lock. Fails with "the index is locked
    /// by process N" while another writer is open, and writes nothing to a directory that is not
    /// an index.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PlaidError.noIndex(path: path)
        }
        _ = try CompressedIndex.readCommit(path: path, verifyChecksums: true)   // refuses a non-index before the lock file is made
        lock = try IndexLock(indexDirectory: path)
        let snapshot = try CompressedIndex(path: path)
        committed = snapshot.manifest
        codebook = snapshot.codebook
        centroids = snapshot.quantizer.centroids
        quantizer = CoarseQuantizer(centroids: centroids, dim: snapshot.dim, recheckDistance: snapshot.codebook.outlierDistance)
        codec = snapshot.codec
        upgradeFromVersion1 = snapshot.formatVersion == 1
        metadataFields = committed.metadataFields
        nextSegmentNumber = upgradeFromVersion1 ? 1 : committed.nextSegmentNumber
        staged = snapshot.segments.map { StagedSegment(info: $0.info, lengths: $0.documentLengths, deleted: $0.deletionBitmap) }
        liveIDs.reserveCapacity(snapshot.documentCount)
        for (s, segment) in snapshot.segments.enumerated() {
            for d in 0..<segment.documentCount where !segment.isDeleted(d) { liveIDs[ByteExactID(segment.documentIDs[d])] = (s, d) }
        }
        if upgradeFromVersion1 { staged[0].info.name = Manifest.segmentName(0) }
        GarbageCollector.collect(indexDirectory: path, committed: committed)
        AtomicDirectory.removeStaleTemporaries(beside: path)
    }

    deinit { close() }

    /// Drops what is staged and not committed, and releases the lock.
    public func close() {
        guard lock != nil else { return }
        for segment in staged where segment.isNew { discardStagedDirectory(segment.info.name) }
        lock?.release()
        lock = nil
    }

    public var dim: Int { codebook.dim }
    /// Whether the index stores its documents' text (`BuildParameters.storedText`).
    public var storesText: Bool { committed.storedText != nil }
    /// Live documents, staged changes included.
    public var documentCount: Int { liveIDs.count }
    public func contains(id: String) -> Bool { liveIDs[ByteExactID(id)] != nil }
    /// Whether anything is staged that `commit` would write.
    public var hasChanges: Bool {
        upgradeFromVersion1 || centroidsChanged || metadataFields != committed.metadataFields
            || staged.contains { $0.isNew || $0.deletionsChanged }
    }

    private func directory(of segmentName: String) -> String { (path as NSString).appendingPathComponent(segmentName) }

    /// Removes a segment directory that no commit names, and forgets it as staging.
    private func discardStagedDirectory(_ segmentName: String) {
        try? FileManager.default.removeItem(atPath: directory(of: segmentName))
        StagingFiles.unregister(directory(of: segmentName))
    }

    private func checkOpen() throws {
        guard lock != nil else { throw PlaidError.refused("the writer of \(path) is closed; open a new IndexWriter") }
    }

    // MARK: Adding

    /// Stages a batch as a new segment, coded with the index's centroids and residual codec.
    /// An id that is already live is an error naming it, unless `upsert` replaces it in the same
    /// commit. With `growCodebook`, batch vectors farther from every centroid than the build's
    /// outlier distance are clustered into new centroids first (see `Codebook.outlierDistance`).
    /// `metadata` gives documents' fields; they commit with the documents. Nothing is staged if
    /// the batch is refused.
    @discardableResult
    public func add(_ batch: DocumentEmbeddingSource, metadata: BatchMetadata = [:], texts: BatchTexts = [:], upsert: Bool = false,
                    growCodebook: Bool = true, showProgress: Bool = false) throws -> AddSummary {
        try checkOpen()
        try codebook.checkCanCode(batch, holder: "the index at \(path)", purpose: "add")
        try EmbeddingsLayout.checkUnique(batch.ids, file: batch.sourceName)
        let existing = batch.ids.filter { liveIDs[ByteExactID($0)] != nil }
        if !upsert && !existing.isEmpty {
            throw PlaidError.alreadyInIndex(ids: existing)
        }
        let fields = try MetadataSchema.merge(metadataFields, with: metadata, order: batch.ids, source: batch.sourceName)
        let saved = (codebook, centroids, quantizer, codec, centroidsChanged)
        let name = Manifest.segmentName(nextSegmentNumber)
        let info: SegmentInfo
        var growth = CodebookGrowth()
        do {
            if !codebook.isTrained {
                try trainCodebook(on: batch, showProgress: showProgress)
            } else if growCodebook {
                growth = try CodebookTrainer.grow(codebook, quantizer: quantizer, codec: codec, for: batch,
                                                  chunkTokens: chunkTokens, seedOffset: nextSegmentNumber)
                appendCentroids(growth.centroids)
            }
            // Codes found by the growth pass are final unless it appended centroids (then it keeps none).
            info = try IndexBuilder.writeSegment(batch, metadata: metadata, texts: texts, storedText: committed.storedText, fields: fields,
                                                 directory: directory(of: name), name: name,
                                                 quantizer: quantizer, codec: codec, chunkTokens: chunkTokens, showProgress: showProgress,
                                                 assignedCodes: growth.codes).info
        } catch {
            (codebook, centroids, quantizer, codec, centroidsChanged) = saved
            discardStagedDirectory(name)
            throw error
        }
        nextSegmentNumber += 1
        metadataFields = fields
        if upsert { _ = markDeleted(existing) }
        let segment = staged.count
        staged.append(StagedSegment(info: info, lengths: batch.lengths,
                                    deleted: [UInt64](repeating: 0, count: Segment.bitmapWords(info.documentCount)), isNew: true))
        for (d, id) in batch.ids.enumerated() { liveIDs[ByteExactID(id)] = (segment, d) }
        return AddSummary(documents: info.documentCount, tokens: info.tokenCount, replaced: upsert ? existing.count : 0,
                          newCentroids: growth.centroids.count / codebook.dim, outlierTokens: growth.outlierTokens)
    }

    /// The first batch of an index created empty trains its centroids and residual codec, with
    /// the k-means settings the index was created with, exactly as a build on that batch would.
    private func trainCodebook(on batch: DocumentEmbeddingSource, showProgress: Bool) throws {
        (codebook, centroids) = try CodebookTrainer(settingsOf: codebook).trainFirstBatch(batch, of: codebook, showProgress: showProgress)
        quantizer = CoarseQuantizer(centroids: centroids, dim: codebook.dim, recheckDistance: codebook.outlierDistance)
        codec = ResidualCodec(dim: codebook.dim, nbits: codebook.nbits, cutoffs: codebook.bucketCutoffs, weights: codebook.bucketWeights)
        centroidsChanged = true
    }

    /// Appends centroids `[n, dim]` that the growth pass trained (none: nothing changes).
    private func appendCentroids(_ grown: [Float]) {
        guard !grown.isEmpty else { return }
        centroids += grown
        codebook.centroidCount += grown.count / codebook.dim
        quantizer = CoarseQuantizer(centroids: centroids, dim: codebook.dim, recheckDistance: codebook.outlierDistance)
        centroidsChanged = true
    }

    // MARK: Attaching

    /// Stages segments built apart from the index (`SharedCodebook.buildSegment`, on any
    /// machine), in the order given, as new segments; `commit()` makes them all visible at once.
    /// Every segment is checked before anything is staged (`AttachableSegment`: complete,
    /// undamaged, coded with this index's codebook, of its dimension, model and text settings),
    /// and its ids must be new to the index (unless `upsert` replaces those documents) and to
    /// the other segments. The segments' files are linked or copied in, never moved: the segment
    /// directories stay as they were. Attached segments never grow the codebook; their tokens
    /// beyond its outlier distance are counted (`SegmentInfo.outlierTokens`).
    @discardableResult
    public func attach(segments directories: [String], upsert: Bool = false) throws -> AttachSummary {
        try checkOpen()
        guard codebook.isTrained else {
            throw PlaidError.refused("the index at \(path) was created empty and has no trained codebook to check the segments against; create it from their codebook with plaid build --codebook CB")
        }
        var named = Set<String>()
        for directory in directories where !named.insert(URL(fileURLWithPath: directory).standardizedFileURL.path).inserted {
            throw PlaidError.invalidArgument("\(directory) is named twice; name each segment once")
        }
        var checked: [AttachableSegment] = []
        var incoming: [ByteExactID: String] = [:]
        var fields = metadataFields
        for directory in directories {
            let segment = try AttachableSegment(directory: directory, indexPath: path, codebook: codebook, centroids: centroids,
                                                storedText: committed.storedText)
            for id in segment.ids {
                if let other = incoming.updateValue(directory, forKey: ByteExactID(id)) {
                    throw PlaidError.refused("the id '\(visible(id))' is in both \(other) and \(directory); the segments attached together must not share ids")
                }
            }
            fields = try MetadataSchema.merge(fields, withFieldsOf: segment.descriptor.segment.metadataFields, source: directory)
            checked.append(segment)
        }
        let existing = checked.flatMap(\.ids).filter { liveIDs[ByteExactID($0)] != nil }
        if !upsert && !existing.isEmpty { throw PlaidError.alreadyInIndex(ids: existing) }
        // Every check passed. Nothing is staged unless every segment arrives.
        var names: [String] = []
        do {
            for segment in checked {
                names.append(Manifest.segmentName(nextSegmentNumber + names.count))
                try SegmentDirectory.linkOrCopy(segment.directory, to: directory(of: names.last!), info: segment.descriptor.segment)
            }
        } catch {
            names.forEach(discardStagedDirectory)
            throw error
        }
        nextSegmentNumber += names.count
        metadataFields = fields
        if upsert { _ = markDeleted(existing) }
        var summary = AttachSummary(segments: names.count, documents: 0, tokens: 0, replaced: upsert ? existing.count : 0, outlierTokens: 0)
        for (segment, name) in zip(checked, names) {
            var info = segment.descriptor.segment
            info.name = name
            let s = staged.count
            staged.append(StagedSegment(info: info, lengths: segment.lengths,
                                        deleted: [UInt64](repeating: 0, count: Segment.bitmapWords(info.documentCount)), isNew: true))
            for (d, id) in segment.ids.enumerated() { liveIDs[ByteExactID(id)] = (s, d) }
            summary.documents += info.documentCount
            summary.tokens += info.tokenCount
            summary.outlierTokens += info.outlierTokens ?? 0
        }
        return summary
    }

    // MARK: Deleting

    /// Stages the deletion of the live documents with these ids; ids that name no live document
    /// are returned, not an error.
    @discardableResult
    public func delete(ids: [String]) throws -> DeleteSummary {
        try checkOpen()
        let unknown = ids.filter { liveIDs[ByteExactID($0)] == nil }
        return DeleteSummary(deleted: markDeleted(ids), unknown: unknown)
    }

    private func markDeleted(_ ids: [String]) -> Int {
        var count = 0
        for id in ids {
            guard let (s, d) = liveIDs.removeValue(forKey: ByteExactID(id)) else { continue }
            staged[s].deleted[d >> 6] |= 1 << UInt64(d & 63)
            staged[s].info.deletedDocuments += 1
            staged[s].info.deletedTokens += staged[s].lengths[d]
            staged[s].deletionsChanged = true
            count += 1
        }
        return count
    }

    // MARK: Committing

    /// Makes every staged change visible in one atomic commit, then compacts or merges segments
    /// as `mergePolicy` decides (`maintain()`). Nothing is written when nothing is staged. An
    /// error means the commit did not land; once it has landed, a failed compaction or merge is
    /// returned in `maintenanceFailure`, not thrown.
    @discardableResult
    public func commit() throws -> CommitSummary {
        try commit(allowingCompaction: true)
    }

    /// `commit()`, with the policy's compaction left out when `allowingCompaction` is false (its
    /// merges still follow).
    private func commit(allowingCompaction: Bool) throws -> CommitSummary {
        try checkOpen()
        guard hasChanges else { return CommitSummary(generation: committed.generation, compacted: false) }
        let generation = committed.generation + 1
        // New files of this commit: removed if the process is interrupted before the manifest names them.
        var written: [String] = []
        defer { written.forEach(StagingFiles.unregister) }
        func staging(_ file: String) -> String { StagingFiles.register(file); written.append(file); return file }
        if upgradeFromVersion1 { try upgradeVersion1(generation: generation) }
        for s in staged.indices where staged[s].deletionsChanged {
            let file = "deleted-\(generation).plaid"
            try IndexStorage.writeDeletions(staged[s].deleted, path: staging((directory(of: staged[s].info.name) as NSString).appendingPathComponent(file)))
            AtomicDirectory.syncDirectory(directory(of: staged[s].info.name))
            staged[s].info.deletionsFile = file
        }
        if centroidsChanged {
            codebook.centroidsFile = Codebook.centroidsFileName(generation: generation)
            try IndexStorage.writeCentroids(centroids, path: staging((path as NSString).appendingPathComponent(codebook.centroidsFile)))
        }
        // A segment with nothing live left has nothing to search: the manifest drops it, and the
        // id map's segment numbers move down past it.
        let kept = staged.indices.filter { staged[$0].info.liveDocuments > 0 }
        if kept.count < staged.count {
            var renumbered = [Int](repeating: -1, count: staged.count)
            for (new, old) in kept.enumerated() { renumbered[old] = new }
            for (id, location) in liveIDs { liveIDs[id] = (renumbered[location.segment], location.document) }
            staged = kept.map { staged[$0] }
        }
        written.forEach(StagingFiles.unregister)
        try publish(Manifest(formatVersion: Manifest.formatVersion, generation: generation, codebook: codebook,
                             segments: staged.map(\.info), nextSegmentNumber: nextSegmentNumber,
                             metadataFields: metadataFields, writtenBy: "plaid \(PlaidVersion.string)", storedText: committed.storedText))
        // The commit has landed: what follows only tidies, and its failure (a full disk) must not
        // make the caller believe the commit failed.
        var summary = CommitSummary(generation: committed.generation, compacted: false)
        do {
            try maintain(&summary, allowingCompaction: allowingCompaction)
        } catch {
            summary.maintenanceFailure = error
        }
        summary.generation = committed.generation
        return summary
    }

    /// Compacts or merges segments as `mergePolicy` decides: what `commit` does after each
    /// commit, for a caller to retry after a failure. Each step is its own commit; one that fails
    /// leaves the last commit as it was.
    @discardableResult
    public func maintain() throws -> CommitSummary {
        try checkOpen()
        var summary = CommitSummary(generation: committed.generation, compacted: false)
        try maintain(&summary, allowingCompaction: true)
        summary.generation = committed.generation
        return summary
    }

    private func maintain(_ summary: inout CommitSummary, allowingCompaction: Bool) throws {
        if allowingCompaction && mergePolicy.shouldCompact(committed) {
            try mergeCommitted(0..<staged.count)
            summary.compacted = true
            return
        }
        while let range = mergePolicy.nextMerge(of: staged.map(\.info)) {
            try mergeCommitted(range)
            summary.mergedSegments += range.count
        }
    }

    /// Commits `manifest` (the rename), marks what is staged (or `segments`, which replace it) as
    /// committed, and removes the files no manifest names any more. Nothing changes if it throws.
    private func publish(_ manifest: Manifest, segments: [StagedSegment]? = nil) throws {
        try checkReadable(manifest)
        try manifest.commit(to: path)
        if let segments { staged = segments }
        committed = manifest
        upgradeFromVersion1 = false
        centroidsChanged = false
        for s in staged.indices {
            staged[s].isNew = false
            staged[s].deletionsChanged = false
        }
        GarbageCollector.collect(indexDirectory: path, committed: committed)
    }

    /// Opens what `manifest` names and the last commit did not, as a reader will (checksums
    /// included): new segments whole, the new deletion bitmaps of old ones, new centroids. A
    /// commit never names a file that a reader would refuse.
    private func checkReadable(_ manifest: Manifest) throws {
        let book = manifest.codebook
        if book.centroidsFile != committed.codebook.centroidsFile || book.centroidCount != committed.codebook.centroidCount {
            _ = try IndexStorage.readCentroids(path: (path as NSString).appendingPathComponent(book.centroidsFile),
                                               count: book.centroidCount, dim: book.dim, verifyChecksum: true)
        }
        let before = Dictionary(committed.segments.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for info in manifest.segments where before[info.name] != info {
            if let old = before[info.name], old.documentCount == info.documentCount, old.tokenCount == info.tokenCount, !upgradeFromVersion1 {
                guard let file = info.deletionsFile else { continue }
                _ = try ComponentReader(path: (directory(of: info.name) as NSString).appendingPathComponent(file), component: .deletions,
                                        size: .exactly(Segment.bitmapWords(info.documentCount) * 8), verifyChecksum: true)
            } else {
                _ = try Segment(directory: directory(of: info.name), info: info, bytesPerVector: codec.bytesPerVector, verifyChecksums: true)
            }
        }
    }

    /// The version-1 upgrade (`Version1Upgrade`): the segment's files move into `seg-000000` and,
    /// unless this commit writes new centroids anyway, the centroids into `centroids-G.plaid`.
    private func upgradeVersion1(generation: Int) throws {
        staged[0].info = try Version1Upgrade.linkSegment(staged[0].info, indexDirectory: path)
        if !centroidsChanged {
            codebook.centroidsFile = Codebook.centroidsFileName(generation: generation)
            try Version1Upgrade.linkCentroids(indexDirectory: path, to: codebook.centroidsFile)
        }
    }

    // MARK: Compacting

    /// Commits what is staged, then rewrites the index as one segment holding only the live
    /// documents, in their order, with their codes and residuals copied unchanged — so search
    /// results are the same before and after. Memory is bounded by `chunkTokens`.
    public func compact() throws {
        try checkOpen()
        if hasChanges { _ = try commit(allowingCompaction: false) }
        try mergeCommitted(0..<staged.count)
    }

    /// Rewrites the committed segments in `range` (nothing staged) as one segment of their live
    /// documents in their order, or as none if no document is live (`SegmentMerger`), and commits
    /// the result. The writer's state changes only once that commit has landed: after a failure
    /// it still describes the last commit, and the writer can go on.
    private func mergeCommitted(_ range: Range<Int>) throws {
        let name = Manifest.segmentName(nextSegmentNumber)
        let merger = SegmentMerger(indexDirectory: path, listCount: quantizer.count, bytesPerVector: codec.bytesPerVector,
                                   fields: metadataFields, storedText: committed.storedText, chunkTokens: chunkTokens)
        let merged = try merger.merge(staged[range].map(\.info), into: name)
        var segments = staged
        segments.replaceSubrange(range, with: merged.map {
            [StagedSegment(info: $0.info, lengths: $0.lengths, deleted: [UInt64](repeating: 0, count: Segment.bitmapWords($0.info.documentCount)))]
        } ?? [])
        do {
            try publish(Manifest(formatVersion: Manifest.formatVersion, generation: committed.generation + 1, codebook: codebook,
                                 segments: segments.map(\.info), nextSegmentNumber: nextSegmentNumber + 1, metadataFields: metadataFields,
                                 writtenBy: "plaid \(PlaidVersion.string)", storedText: committed.storedText),
                        segments: segments)
        } catch {
            discardStagedDirectory(name)
            throw error
        }
        nextSegmentNumber += 1
        // Segments after the range move down by the ones merged away.
        let shift = range.count - (merged == nil ? 0 : 1)
        if shift != 0 {
            for (id, location) in liveIDs where location.segment >= range.upperBound { liveIDs[id] = (location.segment - shift, location.document) }
        }
        for (d, id) in (merged?.ids ?? []).enumerated() { liveIDs[ByteExactID(id)] = (range.lowerBound, d) }
    }
}
