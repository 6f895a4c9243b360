/// Reference quantizers for ggml's 32-value block formats, bit-compatible with llama.cpp's
/// `quantize_row_q8_0_ref`, `quantize_row_q4_0_ref` and `quantize_row_q4_1_ref`; their
/// dequantizers are `Dequantize.row`. The details that decide the bytes: scales are computed in
/// float32, codes use the reciprocal `id = 1/d` (0 when d is 0), Q8_0 rounds half away from zero
/// (`roundf`), Q4_0 and Q4_1 truncate `x*id + 8.5` and `(x - min)*id + 0.5` toward zero and cap
/// at 15, and `d` (and Q4_1's `min`) are stored as float16, rounded to nearest even.
public enum GGMLBlocks {
    static let blockValues = 32

    /// Q8_0: d = max|x| / 127, q = roundf(x / d) as int8.
    public static func quantizeRowQ8_0(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<(count / blockValues) {
            let v = x + b * blockValues, block = y + b * DType.q8_0.blockBytes
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

    /// Q4_0: d = m / -8 where m is the value of largest magnitude (sign kept), codes in 0...15
    /// stand for -8...7; byte j holds value j (low nibble) and value j + 16 (high nibble).
    public static func quantizeRowQ4_0(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<(count / blockValues) {
            let v = x + b * blockValues, block = y + b * DType.q4_0.blockBytes
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

    /// Q4_1: d = (max - min) / 15 and the block minimum m; codes q in 0...15 stand for q*d + m.
    public static func quantizeRowQ4_1(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<(count / blockValues) {
            let v = x + b * blockValues, block = y + b * DType.q4_1.blockBytes
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

    /// Quantizes a tensor to `dtype` (`.q8_0`, `.q4_0` or `.q4_1`) row by row; rows must be a
    /// whole number of 32-value blocks.
    public static func quantize(_ tensor: Tensor, to dtype: DType, name: String) throws -> Tensor {
        let quantizeRow: (UnsafePointer<Float>, Int, UnsafeMutableRawPointer) -> Void
        switch dtype {
        case .q8_0: quantizeRow = quantizeRowQ8_0
        case .q4_0: quantizeRow = quantizeRowQ4_0
        case .q4_1: quantizeRow = quantizeRowQ4_1
        default: throw LLMOptError.unsupported("\(dtype.ggmlName) is not a ggml block format with a reference quantizer")
        }
        guard fits(tensor, dtype) else {
            throw LLMOptError.invalidArgument(name: name, reason: "rows of \(tensor.columns) values are not a whole number of \(dtype.ggmlName) blocks of 32")
        }
        let w = tensor.toF32()
        try RoundToNearest.checkFinite(w, name: name)
        let cols = w.columns, src = w.f32Pointer
        return Tensor.raw(shape: w.shape, dtype: dtype) { out in
            let rowBytes = dtype.byteCount(elements: cols)!
            let base = out.baseAddress!
            Parallel.forRanges(w.rows, grain: 16) { range in
                for r in range { quantizeRow(src + r * cols, cols, base + r * rowBytes) }
            }
        }
    }

    /// Whether the rows of `tensor` split into whole blocks of `dtype`.
    public static func fits(_ tensor: Tensor, _ dtype: DType) -> Bool {
        tensor.rank >= 1 && tensor.columns > 0 && tensor.columns % dtype.blockSize == 0
    }
}
