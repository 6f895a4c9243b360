import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory mapping of a whole file. Tensors loaded from it point into the mapping
/// and keep it alive, so weights are read in place rather than copied.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let size: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw LLMOptError.badFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw LLMOptError.badFile(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw LLMOptError.badFile(path: path, reason: "not a regular file")
        }
        size = Int(st.st_size)
        if size == 0 {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw LLMOptError.badFile(path: path, reason: "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    /// Storage for bytes `range` of the file, checked against the file's size.
    public func storage(_ range: Range<Int>, what: String) throws -> TensorStorage {
        guard range.lowerBound >= 0, range.upperBound <= size else {
            throw LLMOptError.badFile(path: path, reason: "\(what) spans bytes \(range.lowerBound)..<\(range.upperBound), past the end of the file (\(size) bytes)")
        }
        return TensorStorage(borrowing: base + range.lowerBound, byteCount: range.count, owner: self)
    }

    deinit {
        if size == 0 { UnsafeMutableRawPointer(mutating: base).deallocate() } else { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }
}
