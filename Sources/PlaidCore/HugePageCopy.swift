import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private copy of some bytes in anonymous memory, aligned to 2 MiB and advised for
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`), freed on deinit.
///
/// For data read at random all over a large file: through a map of the file each read may also
/// miss the TLB and walk the page tables, 4 KiB pages being too many to cache their translations;
/// 2 MiB pages cover it with a few hundred. Where the kernel gives no huge pages (THP off), the
/// copy behaves as ordinary memory.
public final class HugePageCopy: @unchecked Sendable {
    public static let alignment = 2 << 20
    public let bytes: UnsafeRawPointer
    public let count: Int
    private let base: UnsafeMutableRawPointer

    /// Copies `source`; nil when the memory cannot be had.
    public init?(of source: UnsafeRawBufferPointer) {
        guard let from = source.baseAddress, source.count > 0 else { return nil }
        let size = (source.count + Self.alignment - 1) / Self.alignment * Self.alignment
        var allocated: UnsafeMutableRawPointer?
        guard posix_memalign(&allocated, Self.alignment, size) == 0, let base = allocated else { return nil }
        #if os(Linux)
        madvise(base, size, MADV_HUGEPAGE)  // advice only: without THP the pages are small
        #endif
        base.copyMemory(from: from, byteCount: source.count)
        self.base = base
        bytes = UnsafeRawPointer(base)
        count = source.count
    }

    /// Whether the kernel gives huge pages to memory advised for them: transparent huge pages set
    /// to `always` or `madvise` (read once). Where not, a copy lies on small pages like any memory.
    public static let kernelGivesHugePages: Bool = {
        guard let setting = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8) else { return false }
        return setting.contains("[always]") || setting.contains("[madvise]")
    }()

    deinit { free(base) }
}
