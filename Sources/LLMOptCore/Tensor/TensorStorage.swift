import Foundation

/// An immutable block of bytes behind one or more tensors: either owned memory or a region
/// of a memory-mapped file. Tensors share storage freely; an operation that changes values
/// writes new storage, so models behave as values (copy on write at tensor granularity).
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let byteCount: Int
    /// Keeps a memory mapping (or any other owner of `base`) alive; `nil` when we own `base`.
    private let owner: AnyObject?
    /// Another representation of the same values that kernels may use instead of the bytes
    /// (pruning attaches a `SparseMatrix` to very sparse weights for decoding). Set once, right
    /// after the storage is made and before it is shared.
    public var attachment: AnyObject?

    /// Takes ownership of freshly allocated, 64-byte aligned memory.
    private init(owned: UnsafeMutableRawPointer, byteCount: Int) {
        self.base = UnsafeRawPointer(owned)
        self.byteCount = byteCount
        self.owner = nil
    }

    /// Borrows memory owned by `owner` (for example a `MappedFile`).
    public init(borrowing base: UnsafeRawPointer, byteCount: Int, owner: AnyObject) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
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
