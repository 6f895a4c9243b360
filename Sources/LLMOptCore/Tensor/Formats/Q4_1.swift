import CLLMOptKernels

/// ggml's Q4_1: blocks of 32 values, float16 scale d and minimum m, 16 bytes of 4-bit codes;
/// x = d·q + m, nibbles laid out as Q4_0's.
extension StorageFormat {
    public static let q4_1 = StorageFormat(
        blockSize: 32, blockBytes: 20, ggmlType: 3, ggufFileType: 3,
        dequantizeRow: { src, count, dst in
            for b in 0..<(count / 32) {
                let block = src + b * 20
                let d = Dequantize.halfAt(block, 0)
                let m = Dequantize.halfAt(block, 2)
                for j in 0..<16 {
                    let byte = block.load(fromByteOffset: 4 + j, as: UInt8.self)
                    dst[b * 32 + j] = d * Float(byte & 0x0F) + m
                    dst[b * 32 + j + 16] = d * Float(byte >> 4) + m
                }
            }
        },
        quantizeRow: { GGMLBlocks.quantizeRowQ4_1($0, count: $1, into: $2) }, kernelType: Int32(LLMOPT_W_Q4_1), integerKernel: true)
}

extension GGMLBlocks {
    /// Q4_1: d = (max - min) / 15 and the block minimum m; codes q in 0...15 stand for q*d + m.
    public static func quantizeRowQ4_1(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<(count / blockValues) {
            let v = x + b * blockValues, block = y + b * 20
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for j in 0..<blockValues {
                if v[j] < lo { lo = v[j] }
                if v[j] > hi { hi = v[j] }
            }
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: Float16(d).bitPattern, toByteOffset: 0, as: UInt16.self)
            block.storeBytes(of: Float16(lo).bitPattern, toByteOffset: 2, as: UInt16.self)
            for j in 0..<(blockValues / 2) {
                let q0 = min(15, Int((v[j] - lo) * id + 0.5))
                let q1 = min(15, Int((v[j + blockValues / 2] - lo) * id + 0.5))
                block.storeBytes(of: UInt8(q0 | q1 << 4), toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }
}
