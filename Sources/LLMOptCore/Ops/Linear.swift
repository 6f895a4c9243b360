import CLLMOptKernels

/// y = x Wᵀ for activations `x` [rows, in] and a weight `W` [out, in] of any storage type.
/// This is the one place where weight dtypes meet kernels:
/// - f32, f16, bf16: blocked SGEMM (half types converted a panel at a time); for up to
///   `smallRowLimit` rows a kernel that reads each weight row once per four rows (GEMV for one);
/// - q8_0, q4_0, q4_1, q5_0, q5_1 and the K-quants: activations quantized as llama.cpp quantizes
///   them (8 bits per 32-block; Q8_K super-blocks of 256 for K-quants), then integer dot products
///   (AVX-512 VNNI) for up to `integerRowLimit` rows; more rows (prefill) go to the SGEMM with the
///   weight dequantized a panel at a time, which is faster there and exact;
/// - qgroup (RTN, GPTQ, AWQ): see `forwardGroupQuantized` (LinearQGroup.swift);
/// - anything else: dequantized to f32 once per call (the reference path).
/// Every path splits the weight rows (`out`) across threads, so each core streams its own part
/// of the weight.
public enum Linear {
    /// Row counts up to this use the integer kernels for block-quantized weights (measured: at
    /// 8 rows they run 1.5x the dequantizing GEMM, at 12 they are even, at 16 the GEMM wins by 1.3x).
    public static let integerRowLimit = 12
    /// Row counts up to this use the few-rows float kernel (GEMV for one row) instead of the packed
    /// GEMM, whose 16- or 32-row tiles waste most of their work below about 10 rows.
    public static let smallRowLimit = 8

    /// How activations meet block-quantized weights in the few-rows (decode) path.
    public enum Activations: Sendable {
        /// Rounded to 8 bits per 32-block for the integer kernels, as llama.cpp does: fastest.
        case quantized
        /// Kept in float32 against weights converted as they are read. For the output layer,
        /// whose logits pick the next token directly: 8-bit rounding of its input (one outlier
        /// in a block costs the other 31 values their precision) can flip a near-tie.
        case exact
    }

    public static func forward(_ x: UnsafePointer<Float>, rows: Int, weight w: Tensor, into y: UnsafeMutablePointer<Float>,
                               activations: Activations = .quantized) {
        precondition(w.rank == 2, "Linear.forward: weight \(w) is not a matrix")
        let n = w.shape[0], k = w.columns
        guard rows > 0, n > 0 else { return }
        if rows == 1, w.byteOffset == 0, let sparse = w.storage.sparse, sparse.rows == n, sparse.columns == k {
            // Decoding a very sparse weight: the CSR copy reads fewer bytes (see SparseMatrix).
            sparse.multiply(x, tokens: 1, into: y)
            return
        }
        if w.dtype == .qgroup {
            forwardGroupQuantized(x, rows: rows, weight: w, into: y, activations: activations)
            return
        }
        guard let wtype = kernelType(w.dtype) else {
            let wf = w.toF32()
            forwardFloat(x, rows: rows, n: n, k: k, weight: UnsafeRawPointer(wf.f32Pointer), wtype: Int32(LLMOPT_W_F32),
                         rowBytes: k * 4, into: y)
            return
        }
        if w.dtype.format.integerKernel && activations == .exact && rows <= smallRowLimit {
            forwardFloat(x, rows: rows, n: n, k: k, weight: w.rawPointer, wtype: wtype, rowBytes: w.rowBytes, into: y, small: true)
        } else if w.dtype.format.integerKernel && rows <= integerRowLimit {
            forwardQuantized(x, rows: rows, n: n, k: k, weight: w.rawPointer, wtype: wtype, rowBytes: w.rowBytes, into: y)
        } else {
            forwardFloat(x, rows: rows, n: n, k: k, weight: w.rawPointer, wtype: wtype, rowBytes: w.rowBytes, into: y)
        }
    }

    /// y_i = x W_iᵀ for several weights that read the same activations (q, k and v; gate and up).
    /// For a few rows (decode) one parallel run covers the rows of all of them, with the
    /// activations quantized once, instead of a run per weight: fewer hand-offs between threads,
    /// and one thread's share is not bounded by the smallest weight. Otherwise `forward` each.
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, weights: [Tensor], into outputs: [UnsafeMutablePointer<Float>]) {
        precondition(weights.count == outputs.count, "Linear.forward: \(weights.count) weights, \(outputs.count) outputs")
        let k = weights.first?.columns ?? 0
        let fusable = rows <= smallRowLimit && weights.allSatisfy { w in
            w.rank == 2 && w.columns == k && kernelType(w.dtype) != nil
                && !(rows == 1 && w.storage.sparse != nil)
        }
        guard fusable, rows > 0, weights.count > 1 else {
            for (w, y) in zip(weights, outputs) { forward(x, rows: rows, weight: w, into: y) }
            return
        }
        // The activations in each format the integer kernels need (8-bit 32-blocks, Q8_K), once each.
        var q8: UnsafeMutableRawPointer?, q8k: UnsafeMutableRawPointer?
        func activations(for wtype: Int32) -> UnsafeMutableRawPointer {
            let superBlocks = llmopt_act_is_q8k(wtype) != 0
            if let done = superBlocks ? q8k : q8 { return done }
            let xBytes = llmopt_act_row_bytes(wtype, Int32(k))
            let buffer = llmopt_scratch(superBlocks ? 2 : 1, xBytes * rows)!
            for i in 0..<rows { llmopt_act_quantize(wtype, Int32(k), x + i * k, buffer + i * xBytes) }
            if superBlocks { q8k = buffer } else { q8 = buffer }
            return buffer
        }
        let parts = weights.map { w in
            let wtype = kernelType(w.dtype)!, quantized = w.dtype.format.integerKernel
            return (raw: w.rawPointer, type: wtype, rowBytes: w.rowBytes, n: w.shape[0], quantized: quantized,
                    qx: quantized ? activations(for: wtype) : nil)
        }
        var starts = [0]
        for part in parts { starts.append(starts.last! + part.n) }
        Parallel.forRanges(starts.last!, grain: 16, chunksPerThread: decodeChunksPerThread) { r in
            for (i, part) in parts.enumerated() {
                let lo = max(r.lowerBound, starts[i]) - starts[i], hi = min(r.upperBound, starts[i + 1]) - starts[i]
                guard lo < hi else { continue }
                let w = part.raw + lo * part.rowBytes, y = outputs[i] + lo
                if part.quantized {
                    llmopt_qgemm_nt(Int32(rows), Int32(hi - lo), Int32(k), part.qx, w, part.type, part.rowBytes, y, Int32(part.n))
                } else {
                    llmopt_gemm_small(Int32(rows), Int32(hi - lo), Int32(k), x, Int32(k), w, part.type, part.rowBytes, y, Int32(part.n))
                }
            }
        }
    }

    /// C[m, n] = A[m, k] · B[n, k]ᵀ for plain float32 matrices given by pointer and row stride
    /// (in floats), for products that are not layers: attention scores against a KV cache whose
    /// rows hold several heads, for instance. Same kernels and thread split as `forward`.
    public static func multiplyTransposed(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, _ b: UnsafePointer<Float>, bRows n: Int,
                                          ldb: Int, depth k: Int, into c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        let wtype = Int32(LLMOPT_W_F32), rowBytes = ldb * 4
        let raw = UnsafeRawPointer(b)
        if m <= smallRowLimit {
            Parallel.forRanges(n, grain: 16) { r in
                llmopt_gemm_small(Int32(m), Int32(r.count), Int32(k), a, Int32(lda), raw + r.lowerBound * rowBytes, wtype, rowBytes,
                                  c + r.lowerBound, Int32(ldc))
            }
            return
        }
        let packed = packA(a, rows: m, lda: lda, depth: k)
        Parallel.forRanges(n, grain: Int(LLMOPT_GEMM_NR), chunksPerThread: gemmChunksPerThread) { r in
            llmopt_gemm_nt_packed(Int32(m), Int32(r.count), Int32(k), packed, raw + r.lowerBound * rowBytes, wtype, rowBytes,
                                  c + r.lowerBound, Int32(ldc))
        }
    }

    /// C[m, n] = A[m, k] · B[k, n], or C += A · B when `accumulate`, for float32 matrices given by
    /// pointer and row stride (in floats) with B row-major: a linear layer's input gradient
    /// dy · W. Columns of C are split between threads.
    static func multiply(_ a: UnsafePointer<Float>, rows m: Int, depth k: Int, lda: Int, _ b: UnsafePointer<Float>, columns n: Int,
                         ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        guard m > 0, n > 0 else { return }
        multiplyPacked(packA(a, rows: m, lda: lda, depth: k), rows: m, depth: k, b, columns: n, ldb: ldb, into: c, ldc: ldc,
                       accumulate: accumulate)
    }

    /// As `multiply`, with A given as its transpose Aᵀ [k, m] (row stride `lda`): a weight
    /// gradient dyᵀ · x reads dy [rows, out] as it lies.
    static func multiply(transposed at: UnsafePointer<Float>, rows m: Int, depth k: Int, lda: Int, _ b: UnsafePointer<Float>,
                         columns n: Int, ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        guard m > 0, n > 0 else { return }
        let packed = llmopt_scratch(0, llmopt_gemm_packed_a_floats(Int32(m), Int32(k)) * 4)!.assumingMemoryBound(to: Float.self)
        let panels = (m + Int(LLMOPT_GEMM_MR) - 1) / Int(LLMOPT_GEMM_MR)
        Parallel.forRanges(panels) { r in
            llmopt_gemm_pack_a_transposed_panels(Int32(m), Int32(k), at, Int32(lda), packed, Int32(r.lowerBound), Int32(r.upperBound))
        }
        multiplyPacked(packed, rows: m, depth: k, b, columns: n, ldb: ldb, into: c, ldc: ldc, accumulate: accumulate)
    }

    private static func multiplyPacked(_ packed: UnsafePointer<Float>, rows m: Int, depth k: Int, _ b: UnsafePointer<Float>,
                                       columns n: Int, ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        Parallel.forRanges(n, grain: Int(LLMOPT_GEMM_NR), chunksPerThread: gemmChunksPerThread) { r in
            llmopt_gemm_nn_packed(Int32(m), Int32(r.count), Int32(k), packed, b + r.lowerBound, Int32(ldb), c + r.lowerBound,
                                  Int32(ldc), accumulate ? 1 : 0)
        }
    }

    /// Row chunks per thread of the few-rows (decode) kernels: with the pool's cheap hand-offs, a
    /// thread that finishes early (its core was shared, its memory slower) takes over part of the
    /// other's share. On an idle machine 1 to 8 chunks measured alike (SmolLM2 Q8_0 decode
    /// 97-106 tok/s, within run-to-run noise).
    static let decodeChunksPerThread = 2

    /// Column chunks per thread of the packed GEMM (see `Parallel.forRanges`).
    static let gemmChunksPerThread = 4

    /// A packed into this thread's scratch buffer (panels shared out between threads).
    static func packA(_ a: UnsafePointer<Float>, rows m: Int, lda: Int, depth k: Int) -> UnsafeMutablePointer<Float> {
        let packed = llmopt_scratch(0, llmopt_gemm_packed_a_floats(Int32(m), Int32(k)) * 4)!.assumingMemoryBound(to: Float.self)
        let panels = (m + Int(LLMOPT_GEMM_MR) - 1) / Int(LLMOPT_GEMM_MR)
        Parallel.forRanges(panels) { r in
            llmopt_gemm_pack_a_panels(Int32(m), Int32(k), a, Int32(lda), packed, Int32(r.lowerBound), Int32(r.upperBound))
        }
        return packed
    }

    /// The kernels' name for a weight dtype; nil when only the reference path handles it.
    static func kernelType(_ dtype: DType) -> Int32? {
        dtype.format.kernelType
    }

    static func forwardFloat(_ x: UnsafePointer<Float>, rows: Int, n: Int, k: Int, weight: UnsafeRawPointer, wtype: Int32,
                             rowBytes: Int, into y: UnsafeMutablePointer<Float>, small: Bool = false) {
        if rows <= smallRowLimit && (small || wtype <= Int32(LLMOPT_W_BF16)) {
            Parallel.forRanges(n, grain: 16, chunksPerThread: decodeChunksPerThread) { r in
                llmopt_gemm_small(Int32(rows), Int32(r.count), Int32(k), x, Int32(k), weight + r.lowerBound * rowBytes, wtype, rowBytes,
                                  y + r.lowerBound, Int32(n))
            }
            return
        }
        let packed = packA(x, rows: rows, lda: k, depth: k)
        Parallel.forRanges(n, grain: Int(LLMOPT_GEMM_NR), chunksPerThread: gemmChunksPerThread) { r in
            llmopt_gemm_nt_packed(Int32(rows), Int32(r.count), Int32(k), packed, weight + r.lowerBound * rowBytes, wtype,
                                  rowBytes, y + r.lowerBound, Int32(n))
        }
    }

    static func forwardQuantized(_ x: UnsafePointer<Float>, rows: Int, n: Int, k: Int, weight: UnsafeRawPointer, wtype: Int32,
                                 rowBytes: Int, into y: UnsafeMutablePointer<Float>) {
        let xBytes = llmopt_act_row_bytes(wtype, Int32(k))
        let qx = llmopt_scratch(1, xBytes * rows)!
        for i in 0..<rows { llmopt_act_quantize(wtype, Int32(k), x + i * k, qx + i * xBytes) }
        Parallel.forRanges(n, grain: 16, chunksPerThread: decodeChunksPerThread) { r in
            llmopt_qgemm_nt(Int32(rows), Int32(r.count), Int32(k), qx, weight + r.lowerBound * rowBytes, wtype, rowBytes,
                            y + r.lowerBound, Int32(n))
        }
    }
}
