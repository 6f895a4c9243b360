/// Reference conversions from every storage type to float32. These are the plain, obviously
/// correct loops; fast kernels are tested against them.
public enum Dequantize {
    /// Converts `count` consecutive values starting at `src` (a whole number of blocks; for
    /// `.qgroup`, a whole number of rows).
    public static func row(from src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        dtype.format.dequantizeRow(src, count, dst)
    }

    @inline(__always)
    static func halfAt(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    public static func bf16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Round-to-nearest-even float32 to bfloat16, as PyTorch converts.
    @inline(__always)
    public static func floatToBF16(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = ((bits >> 16) & 1) + 0x7FFF
        return UInt16((bits &+ rounding) >> 16)
    }
}
