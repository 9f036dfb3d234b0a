import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file (`mmap(PROT_READ, MAP_PRIVATE)`), unmapped on deinit.
/// Pages are read from disk as they are touched, so opening a large file costs nothing up front.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    public let bytes: UnsafeRawPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw PlaidError.missingFile(path: path, hint: "Check the path.") }
            throw PlaidError.io(path: path, detail: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw PlaidError.io(path: path, detail: "cannot stat: \(String(cString: strerror(errno)))")
        }
        count = Int(info.st_size)
        if count == 0 {
            // mmap refuses zero-length maps; an empty file is represented by a dangling non-null pointer.
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let base = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw PlaidError.io(path: path, detail: "cannot map into memory: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawPointer(base)
    }

    /// Hints a sequential scan (`madvise(MADV_SEQUENTIAL)`): pages behind the reader may be dropped.
    public func adviseSequential() {
        if count > 0 { madvise(UnsafeMutableRawPointer(mutating: bytes), count, MADV_SEQUENTIAL) }
    }

    /// Lets the kernel drop the pages of a byte range from memory (`madvise(MADV_DONTNEED)`).
    /// The mapping stays valid: touched again, the pages are read back from the file.
    public func dropPages(offset: Int, length: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset / page) * page
        let end = min(count, offset + length)
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: bytes + start), end - start, MADV_DONTNEED)
    }

    deinit {
        if count == 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), count)
        }
    }
}
