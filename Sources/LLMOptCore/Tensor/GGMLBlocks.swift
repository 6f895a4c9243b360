/// Reference quantizers for ggml's block formats, bit-compatible with llama.cpp's
/// `quantize_row_q8_0_ref`, `quantize_row_q4_0_ref` and `quantize_row_q4_1_ref`. Each format's
/// row quantizer lives in its file in Tensor/Formats/ with its dequantizer; this applies them to
/// whole tensors. The details that decide the bytes: scales are computed in float32, codes use
/// the reciprocal `id = 1/d` (0 when d is 0), Q8_0 rounds half away from zero (`roundf`), Q4_0
/// and Q4_1 truncate `x*id + 8.5` and `(x - min)*id + 0.5` toward zero and cap at 15, and `d` (and Q4_1's `min`) are stored as float16, rounded to nearest even.
public enum GGMLBlocks {
    static let blockValues = 32

    /// Quantizes a tensor to a ggml block format with a reference quantizer in the format table
    /// (`.q8_0`, `.q4_0`, `.q4_1`...) row by row; rows must be a whole number of blocks.
    public static func quantize(_ tensor: Tensor, to dtype: DType, name: String) throws -> Tensor {
        guard dtype.blockSize > 1, let quantizeRow = dtype.format.quantizeRow else {
            throw LLMOptError.unsupported("\(dtype.ggmlName) is not a ggml block format with a reference quantizer")
        }
        guard fits(tensor, dtype) else {
            throw LLMOptError.invalidArgument(name: name, reason: "rows of \(tensor.columns) values are not a whole number of \(dtype.ggmlName) blocks of \(dtype.blockSize)")
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

    /// What llama.cpp's quantize tool stores when rows are not whole blocks of `dtype`: Q2_K and
    /// Q3_K become Q4_0, Q4_K Q5_0, Q5_K Q5_1, Q6_K Q8_0; nil for the 32-value formats.
    public static func fallback(for dtype: DType) -> DType? {
        switch dtype {
        case .q2_k, .q3_k: return .q4_0
        case .q4_k: return .q5_0
        case .q5_k: return .q5_1
        case .q6_k: return .q8_0
        default: return nil
        }
    }

    /// Whether the rows of `tensor` split into whole blocks of `dtype`.
    public static func fits(_ tensor: Tensor, _ dtype: DType) -> Bool {
        tensor.rank >= 1 && tensor.columns > 0 && tensor.columns % dtype.blockSize == 0
    }
}
