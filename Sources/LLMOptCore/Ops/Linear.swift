import CLLMOptKernels

/// y = x Wᵀ for activations `x` [rows, in] and a weight `W` [out, in] of any storage type.
/// This is the one place where weight dtypes meet kernels: float weights go to GEMM,
/// block-quantized weights to integer dot-product kernels.
public enum Linear {
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, weight w: Tensor, into y: UnsafeMutablePointer<Float>) {
        let n = w.shape[0], k = w.columns
        let wf = w.dtype == .f32 ? w : w.toF32()
        let b = wf.f32Pointer
        Parallel.forRanges(n, grain: 16) { r in
            llmopt_sgemm_nt_ref(Int32(rows), Int32(r.count), Int32(k), x, Int32(k), b + r.lowerBound * k, Int32(k),
                                y + r.lowerBound, Int32(n), 0)
        }
    }
}
