import CLLMOptKernels

extension Linear {
    /// y = x Wᵀ for a group-quantized (`.qgroup`) weight, whose codes are never expanded to a
    /// whole float matrix:
    /// - up to `integerRowLimit` rows with 4- or 8-bit codes in whole 32-blocks: activations
    ///   rounded to 8 bits per 32-block and integer dot products (VNNI), as for Q4_0;
    /// - up to `smallRowLimit` rows otherwise (other widths, odd groups, `.exact` activations):
    ///   float activations against codes converted as they are read;
    /// - more rows (prefill): the packed SGEMM, converting a panel of weight rows at a time.
    static func forwardGroupQuantized(_ x: UnsafePointer<Float>, rows: Int, weight w: Tensor, into y: UnsafeMutablePointer<Float>,
                                      activations: Activations) {
        let n = w.shape[0], k = w.columns, rowBytes = w.rowBytes, weight = w.rawPointer
        if activations == .quantized && rows <= integerRowLimit && llmopt_qgroup_integer_ok(weight, Int32(k)) != 0 {
            let xBytes = llmopt_q8act_row_bytes(Int32(k))
            let qx = llmopt_scratch(1, xBytes * rows)!
            for i in 0..<rows { llmopt_q8act_quantize(Int32(k), x + i * k, qx + i * xBytes) }
            Parallel.forRanges(n, grain: 16) { r in
                llmopt_qgroup_qgemm(Int32(rows), Int32(r.count), Int32(k), qx, weight + r.lowerBound * rowBytes, rowBytes,
                                    y + r.lowerBound, Int32(n))
            }
        } else if rows <= smallRowLimit {
            Parallel.forRanges(n, grain: 16) { r in
                llmopt_qgroup_gemm_small(Int32(rows), Int32(r.count), Int32(k), x, Int32(k), weight + r.lowerBound * rowBytes,
                                         rowBytes, y + r.lowerBound, Int32(n))
            }
        } else {
            forwardFloat(x, rows: rows, n: n, k: k, weight: weight, wtype: Int32(LLMOPT_W_QGROUP), rowBytes: rowBytes, into: y)
        }
    }
}
