/// Reference conversions from every storage type to float32. These are the plain, obviously
/// correct loops; fast kernels are tested against them.
public enum Dequantize {
    /// Converts `count` consecutive values starting at `src` (a whole number of blocks; for
    /// `.qgroup`, a whole number of rows).
    public static func row(from src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            for i in 0..<count { dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<count { dst[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .i8:
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        case .i32:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .q8_0:
            for b in 0..<(count / 32) {
                let block = src + b * 34
                let d = halfAt(block, 0)
                for j in 0..<32 { dst[b * 32 + j] = d * Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) }
            }
        case .q4_0:
            // ggml layout: byte j holds value j in its low nibble and value j + 16 in its high nibble.
            for b in 0..<(count / 32) {
                let block = src + b * 18
                let d = halfAt(block, 0)
                for j in 0..<16 {
                    let byte = block.load(fromByteOffset: 2 + j, as: UInt8.self)
                    dst[b * 32 + j] = d * Float(Int(byte & 0x0F) - 8)
                    dst[b * 32 + j + 16] = d * Float(Int(byte >> 4) - 8)
                }
            }
        case .qgroup:
            var done = 0, row = src
            while done < count {
                let layout = GroupQuantLayout(row: row)
                layout.dequantize(row: row, into: dst + done)
                done += layout.columns
                row += layout.rowBytes
            }
        case .q4_1:
            for b in 0..<(count / 32) {
                let block = src + b * 20
                let d = halfAt(block, 0)
                let m = halfAt(block, 2)
                for j in 0..<16 {
                    let byte = block.load(fromByteOffset: 4 + j, as: UInt8.self)
                    dst[b * 32 + j] = d * Float(byte & 0x0F) + m
                    dst[b * 32 + j + 16] = d * Float(byte >> 4) + m
                }
            }
        }
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
