import CLLMOptKernels

/// y = x Wᵀ for activations `x` [rows, in] and a weight `W` [out, in] of any storage type.
/// This is the one place where weight dtypes meet kernels:
/// - f32, f16, bf16: blocked SGEMM (half types converted a panel at a time), GEMV for one row;
/// - q8_0, q4_0, q4_1: activations quantized to 8 bits per 32-block, then integer dot products
///   (VNNI) for up to `integerRowLimit` rows, as llama.cpp does; more rows (prefill) go to the
///   SGEMM with the weight dequantized a panel at a time, which is faster there and exact;
/// - anything else: dequantized to f32 once per call (the reference path).
/// Every path splits the weight rows (`out`) across threads, so each core streams its own part
/// of the weight.
public enum Linear {
    /// Row counts up to this use the integer kernels for block-quantized weights.
    public static let integerRowLimit = 8

    public static func forward(_ x: UnsafePointer<Float>, rows: Int, weight w: Tensor, into y: UnsafeMutablePointer<Float>) {
        precondition(w.rank == 2, "Linear.forward: weight \(w) is not a matrix")
        let n = w.shape[0], k = w.columns
        guard rows > 0, n > 0 else { return }
        guard let wtype = kernelType(w.dtype) else {
            let wf = w.toF32()
            forwardFloat(x, rows: rows, n: n, k: k, weight: UnsafeRawPointer(wf.f32Pointer), wtype: Int32(LLMOPT_W_F32),
                         rowBytes: k * 4, into: y)
            return
        }
        if w.dtype.isQuantized && rows <= integerRowLimit {
            forwardQuantized(x, rows: rows, n: n, k: k, weight: w.rawPointer, wtype: wtype, rowBytes: w.rowBytes, into: y)
        } else {
            forwardFloat(x, rows: rows, n: n, k: k, weight: w.rawPointer, wtype: wtype, rowBytes: w.rowBytes, into: y)
        }
    }

    /// The kernels' name for a weight dtype; nil when only the reference path handles it.
    static func kernelType(_ dtype: DType) -> Int32? {
        switch dtype {
        case .f32: return Int32(LLMOPT_W_F32)
        case .f16: return Int32(LLMOPT_W_F16)
        case .bf16: return Int32(LLMOPT_W_BF16)
        case .q8_0: return Int32(LLMOPT_W_Q8_0)
        case .q4_0: return Int32(LLMOPT_W_Q4_0)
        case .q4_1: return Int32(LLMOPT_W_Q4_1)
        case .i8, .i32: return nil
        }
    }

    static func forwardFloat(_ x: UnsafePointer<Float>, rows: Int, n: Int, k: Int, weight: UnsafeRawPointer, wtype: Int32,
                             rowBytes: Int, into y: UnsafeMutablePointer<Float>) {
        if rows == 1 && wtype <= Int32(LLMOPT_W_BF16) {
            Parallel.forRanges(n, grain: 16) { r in
                llmopt_gemv(Int32(r.count), Int32(k), x, weight + r.lowerBound * rowBytes, wtype, rowBytes, y + r.lowerBound)
            }
            return
        }
        let packed = llmopt_scratch(0, llmopt_gemm_packed_a_floats(Int32(rows), Int32(k)) * 4)!
            .assumingMemoryBound(to: Float.self)
        llmopt_gemm_pack_a(Int32(rows), Int32(k), x, Int32(k), packed)
        Parallel.forRanges(n, grain: Int(LLMOPT_GEMM_NR)) { r in
            llmopt_gemm_nt_packed(Int32(rows), Int32(r.count), Int32(k), packed, weight + r.lowerBound * rowBytes, wtype,
                                  rowBytes, y + r.lowerBound, Int32(n))
        }
    }

    static func forwardQuantized(_ x: UnsafePointer<Float>, rows: Int, n: Int, k: Int, weight: UnsafeRawPointer, wtype: Int32,
                                 rowBytes: Int, into y: UnsafeMutablePointer<Float>) {
        let xBytes = llmopt_q8act_row_bytes(Int32(k))
        let qx = llmopt_scratch(1, xBytes * rows)!
        for i in 0..<rows { llmopt_q8act_quantize(Int32(k), x + i * k, qx + i * xBytes) }
        Parallel.forRanges(n, grain: 16) { r in
            llmopt_qgemm_nt(Int32(rows), Int32(r.count), Int32(k), qx, weight + r.lowerBound * rowBytes, wtype, rowBytes,
                            y + r.lowerBound, Int32(n))
        }
    }
}
