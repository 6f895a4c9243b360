import CLLMOptKernels

/// ggml's Q8_0: blocks of 32 values, a float16 scale d and 32 int8 codes; x = d·q.
extension StorageFormat {
    public static let q8_0 = StorageFormat(
        blockSize: 32, blockBytes: 34, ggmlType: 8, ggufFileType: 7,
        dequantizeRow: { src, count, dst in
            for b in 0..<(count / 32) {
                let block = src + b * 34
                let d = Dequantize.halfAt(block, 0)
                for j in 0..<32 { dst[b * 32 + j] = d * Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) }
            }
        },
        quantizeRow: { GGMLBlocks.quantizeRowQ8_0($0, count: $1, into: $2) }, kernelType: Int32(LLMOPT_W_Q8_0), integerKernel: true)
}

extension GGMLBlocks {
    /// Q8_0: d = max|x| / 127, q = roundf(x / d) as int8.
    public static func quantizeRowQ8_0(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<(count / blockValues) {
            let v = x + b * blockValues, block = y + b * 34
            var amax: Float = 0
            for j in 0..<blockValues { amax = max(amax, abs(v[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: Float16(d).bitPattern, toByteOffset: 0, as: UInt16.self)
            for j in 0..<blockValues {
                block.storeBytes(of: Int8((v[j] * id).rounded(.toNearestOrAwayFromZero)), toByteOffset: 2 + j, as: Int8.self)
            }
        }
    }
}
