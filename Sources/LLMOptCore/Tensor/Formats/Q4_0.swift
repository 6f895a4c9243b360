import CLLMOptKernels

/// ggml's Q4_0: blocks of 32 values, a float16 scale d and 16 bytes of 4-bit codes; x = d·(q − 8).
/// Byte j holds value j in its low nibble and value j + 16 in its high nibble.
extension StorageFormat {
    public static let q4_0 = StorageFormat(
        blockSize: 32, blockBytes: 18, ggmlType: 2, ggufFileType: 2,
        dequantizeRow: { src, count, dst in
            for b in 0..<(count / 32) {
                let block = src + b * 18
                let d = Dequantize.halfAt(block, 0)
                for j in 0..<16 {
                    let byte = block.load(fromByteOffset: 2 + j, as: UInt8.self)
                    dst[b * 32 + j] = d * Float(Int(byte & 0x0F) - 8)
                    dst[b * 32 + j + 16] = d * Float(Int(byte >> 4) - 8)
                }
            }
        },
        quantizeRow: { GGMLBlocks.quantizeRowQ4_0($0, count: $1, into: $2) }, kernelType: Int32(LLMOPT_W_Q4_0), integerKernel: true)
}

extension GGMLBlocks {
    /// Q4_0: d = m / -8 where m is the value of largest magnitude (sign kept), codes in 0...15
    /// stand for -8...7.
    public static func quantizeRowQ4_0(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<(count / blockValues) {
            let v = x + b * blockValues, block = y + b * 18
            var amax: Float = 0, signedMax: Float = 0
            for j in 0..<blockValues where amax < abs(v[j]) {
                amax = abs(v[j])
                signedMax = v[j]
            }
            let d = signedMax / -8
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: Float16(d).bitPattern, toByteOffset: 0, as: UInt16.self)
            for j in 0..<(blockValues / 2) {
                let lo = min(15, Int(v[j] * id + 8.5))
                let hi = min(15, Int(v[j + blockValues / 2] * id + 8.5))
                block.storeBytes(of: UInt8(lo | hi << 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }
}
