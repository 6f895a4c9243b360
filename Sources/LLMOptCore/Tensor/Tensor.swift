import Foundation

/// A named-free, immutable n-dimensional array. Shapes are row-major with the outermost
/// dimension first, as in PyTorch: a linear layer's weight is `[out, in]`, and block formats
/// pack consecutive values along the last (`in`) dimension. Tensors are values that share
/// their `storage`; nothing mutates a tensor in place.
public struct Tensor: Sendable {
    public let shape: [Int]
    public let dtype: DType
    public let storage: TensorStorage
    public let byteOffset: Int

    /// Wraps existing storage. The caller has checked that the bytes fit.
    public init(shape: [Int], dtype: DType, storage: TensorStorage, byteOffset: Int = 0) {
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        self.byteOffset = byteOffset
    }

    /// A float32 tensor holding a copy of `values`.
    public init(shape: [Int], floats values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        let storage = TensorStorage.allocate(byteCount: values.count * 4) { p in
            values.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        self.init(shape: shape, dtype: .f32, storage: storage)
    }

    /// A float32 tensor whose values `fill` writes.
    public static func f32(shape: [Int], _ fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows -> Tensor {
        let n = shape.reduce(1, *)
        let storage = try TensorStorage.allocate(byteCount: n * 4) { p in
            try fill(UnsafeMutableBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: n))
        }
        return Tensor(shape: shape, dtype: .f32, storage: storage)
    }

    /// A tensor of any dtype whose raw bytes `fill` writes (`.qgroup` tensors are made by
    /// `GroupQuantLayout.makeTensor`, which knows their size).
    public static func raw(shape: [Int], dtype: DType, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> Tensor {
        // A real check (preconditions vanish under -Ounchecked): the size is unknown, so `fill` would overrun.
        if dtype == .qgroup { fatalError("qgroup tensors are made with GroupQuantLayout.makeTensor") }
        let bytes = dtype.byteCount(elements: shape.reduce(1, *)) ?? 0
        let storage = try TensorStorage.allocate(byteCount: bytes) { p in
            try fill(UnsafeMutableRawBufferPointer(start: p, count: bytes))
        }
        return Tensor(shape: shape, dtype: dtype, storage: storage)
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    /// Length of the last dimension (the `in` dimension of a weight).
    public var columns: Int { shape.last ?? 1 }
    /// Product of all dimensions but the last.
    public var rows: Int { shape.isEmpty ? 1 : shape.dropLast().reduce(1, *) }
    public var byteCount: Int {
        dtype == .qgroup ? rows * rowBytes : dtype.byteCount(elements: count) ?? 0
    }
    /// Bytes of one row (`columns` values) in this dtype.
    public var rowBytes: Int {
        if dtype == .qgroup { return count == 0 ? 0 : GroupQuantLayout(row: rawPointer).rowBytes }
        return dtype.byteCount(elements: columns) ?? 0
    }

    public var rawPointer: UnsafeRawPointer { storage.base + byteOffset }

    /// Float32 elements in place; only valid when `dtype == .f32`.
    public var f32Pointer: UnsafePointer<Float> {
        precondition(dtype == .f32, "tensor is \(dtype.rawValue), not f32")
        return rawPointer.assumingMemoryBound(to: Float.self)
    }

    /// All values as float32 (dequantized or converted when needed).
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            Dequantize.row(from: rawPointer, dtype: dtype, count: count, into: buf.baseAddress!)
            n = count
        }
    }

    /// The same values stored as float32 (returns `self` when already float32).
    public func toF32() -> Tensor {
        if dtype == .f32 { return self }
        return Tensor.f32(shape: shape) { out in
            Dequantize.row(from: rawPointer, dtype: dtype, count: count, into: out.baseAddress!)
        }
    }

    /// The same bytes seen with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        precondition(dtype != .qgroup || newShape.last == columns, "a qgroup tensor keeps its row length")
        return Tensor(shape: newShape, dtype: dtype, storage: storage, byteOffset: byteOffset)
    }

    /// Rows `range` of a tensor (along the first dimension), sharing storage.
    public func rowSlice(_ range: Range<Int>) -> Tensor {
        let inner = shape.dropFirst().reduce(1, *)
        let bytesPerRow = dtype == .qgroup ? inner / max(columns, 1) * rowBytes : dtype.byteCount(elements: inner) ?? 0
        var s = shape
        s[0] = range.count
        return Tensor(shape: s, dtype: dtype, storage: storage, byteOffset: byteOffset + range.lowerBound * bytesPerRow)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        "Tensor(\(shape.map(String.init).joined(separator: "x")) \(dtype.rawValue))"
    }
}
