/// float16 and bfloat16 storage: each float32 weight rounded to the nearest 16-bit value
/// (ties to even), as PyTorch's `.half()` / `.bfloat16()` and ggml's F16 conversion do.
public enum HalfPrecision {
    /// Converts `tensor` to `.f16` or `.bf16`.
    public static func convert(_ tensor: Tensor, to dtype: DType, name: String) throws -> Tensor {
        guard dtype == .f16 || dtype == .bf16 else {
            throw LLMOptError.unsupported("\(dtype.rawValue) is not a 16-bit float type")
        }
        let w = tensor.toF32()
        let src = w.f32Pointer
        return Tensor.raw(shape: w.shape, dtype: dtype) { out in
            let dst = out.baseAddress!.assumingMemoryBound(to: UInt16.self)
            Parallel.forRanges(w.count, grain: 4096) { range in
                if dtype == .f16 {
                    for i in range { dst[i] = Float16(src[i]).bitPattern }
                } else {
                    for i in range { dst[i] = Dequantize.floatToBF16(src[i]) }
                }
            }
        }
    }
}
