import Foundation

/// An immutable block of bytes behind one or more tensors: either owned memory or a region
/// of a memory-mapped file. Tensors share storage freely; an operation that changes values
/// writes new storage, so models behave as values (copy on write at tensor granularity).
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let byteCount: Int
    /// Keeps a memory mapping (or any other owner of `base`) alive; `nil` when we own `base`.
    private let owner: AnyObject?
    /// The same values in compressed sparse rows, which `Linear` decodes with instead of the
    /// bytes (pruning gives very sparse weights one: `withSparseCopy`). Fixed when the storage is made.
    public let sparse: SparseMatrix?

    /// Takes ownership of freshly allocated, 64-byte aligned memory.
    private init(owned: UnsafeMutableRawPointer, byteCount: Int) {
        self.base = UnsafeRawPointer(owned)
        self.byteCount = byteCount
        self.owner = nil
        self.sparse = nil
    }

    /// Borrows memory owned by `owner` (for example a `MappedFile`).
    public init(borrowing base: UnsafeRawPointer, byteCount: Int, owner: AnyObject, sparse: SparseMatrix? = nil) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
        self.sparse = sparse
    }

    /// Allocates `byteCount` zeroed bytes and lets `fill` write them before they become immutable.
    public static func allocate(byteCount: Int, _ fill: (UnsafeMutableRawPointer) throws -> Void) rethrows -> TensorStorage {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        do { try fill(p) } catch { p.deallocate(); throw error }
        return TensorStorage(owned: p, byteCount: byteCount)
    }

    public var isMapped: Bool { owner != nil }

    deinit {
        if owner == nil { UnsafeMutableRawPointer(mutating: base).deallocate() }
    }
}
