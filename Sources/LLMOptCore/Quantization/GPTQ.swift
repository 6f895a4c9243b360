/// Settings of GPTQ.
public struct GPTQOptions: Sendable {
    /// Added to H's diagonal, as a fraction of its mean diagonal (the paper's 1%).
    public var dampening: Double
    /// Columns per lazy batch update; rounded to a multiple of the group size so that every
    /// group lies in one block.
    public var blockSize: Int
    /// Quantize columns in order of decreasing H_jj (the "act-order" heuristic).
    public var actOrder: Bool

    public init(dampening: Double = 0.01, blockSize: Int = 128, actOrder: Bool = false) {
        self.dampening = dampening
        self.blockSize = blockSize
        self.actOrder = actOrder
    }
}

/// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
/// Pre-trained Transformers"): quantizes a linear layer one input column at a time and spreads
/// each column's rounding error over the columns not yet quantized, weighted by the inverse
/// Hessian of the layer's output error (H = Σ x xᵀ over calibration inputs). With U the upper
/// Cholesky factor of H⁻¹ (H⁻¹ = Uᵀ U), column i's error e = (w_i − q_i) / U_ii updates the later
/// columns by −e · U_i,j. Columns go in blocks; inside a block the update is applied column by
/// column, and the block's accumulated errors reach later columns in one GEMM.
///
/// The grid is `RoundToNearest`'s, so results compare one to one. A group's scale and zero are
/// computed from the group's current (already error-compensated) weights when quantization
/// reaches its first column. With act order the columns are visited out of order while the
/// packed layout groups consecutive columns, so group parameters are then computed up front from
/// the original weights ("static groups"), as are per-channel and per-tensor parameters.
public enum GPTQ {
    /// Quantizes `weight` [out, in] given `hessian` = Σ x xᵀ ([in, in], row-major).
    public static func quantize(_ weight: Tensor, hessian: [Float], grid: QuantGrid, options: GPTQOptions = GPTQOptions(),
                                name: String) throws -> Tensor {
        let src = weight.toF32()
        let (rows, cols) = (src.rows, src.columns)
        guard weight.rank == 2 else {
            throw LLMOptError.invalidArgument(name: name, reason: "GPTQ needs a matrix, got shape \(weight.shape)")
        }
        guard hessian.count == cols * cols else {
            throw LLMOptError.shapeMismatch(name: name, expected: [cols, cols], actual: [hessian.count], source: "GPTQ Hessian")
        }
        guard options.dampening >= 0, options.dampening.isFinite else {
            throw LLMOptError.invalidArgument(name: "dampening", reason: "must be a finite number >= 0, got \(options.dampening)")
        }
        guard options.blockSize > 0 else {
            throw LLMOptError.invalidArgument(name: "block size", reason: "must be positive, got \(options.blockSize)")
        }
        try RoundToNearest.checkFinite(src, name: name)
        let layout = try grid.layout(columns: cols)
        let groupSize = layout.groupSize, groups = layout.groupsPerRow
        let dynamicGroups: Bool = {
            if case .groups = grid.grouping { return !options.actOrder }
            return false
        }()
        let block = dynamicGroups ? max(1, options.blockSize / groupSize) * groupSize : options.blockSize

        var w = src.floats()
        var h = hessian.map(Double.init)
        // Inputs that never fire carry no information: their weights cannot matter, set them to 0.
        for j in 0..<cols where h[j * cols + j] == 0 {
            h[j * cols + j] = 1
            for r in 0..<rows { w[r * cols + j] = 0 }
        }
        // Scales and zeros [rows, groups]; fixed ones are computed now from the original weights.
        var scales = [Float](repeating: 1, count: rows * groups)
        var zeros = [Int](repeating: 0, count: rows * groups)
        if !dynamicGroups {
            let tensorRange = grid.grouping == .perTensor ? RoundToNearest.range(w, count: w.count) : nil
            for r in 0..<rows {
                for g in 0..<groups {
                    let start = g * groupSize, end = min(cols, start + groupSize)
                    let (lo, hi) = tensorRange ?? RoundToNearest.range(w, from: r * cols + start, count: end - start)
                    (scales[r * groups + g], zeros[r * groups + g]) = grid.parameters(min: lo, max: hi)
                }
            }
        }
        // Visiting order: act order sorts by decreasing H_jj (stable, so ties keep their order).
        let order = options.actOrder ? (0..<cols).sorted { h[$0 * cols + $0] > h[$1 * cols + $1] } : Array(0..<cols)
        if options.actOrder {
            w = (0..<(rows * cols)).map { w[$0 / cols * cols + order[$0 % cols]] }
            h = (0..<(cols * cols)).map { h[order[$0 / cols] * cols + order[$0 % cols]] }
        }
        let meanDiagonal = (0..<cols).reduce(0.0) { $0 + h[$1 * cols + $1] } / Double(cols)
        for j in 0..<cols { h[j * cols + j] += options.dampening * meanDiagonal }
        let u = try SparseGPT.upperCholeskyOfInverse(h, n: cols, name: name).map { Float($0) }

        // Raw buffers: rows are updated in parallel, each thread touching only its own rows.
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        let up = UnsafeMutablePointer<Float>.allocate(capacity: cols * cols)
        let sp = UnsafeMutablePointer<Float>.allocate(capacity: rows * groups)
        let zp = UnsafeMutablePointer<Int>.allocate(capacity: rows * groups)
        let codes = UnsafeMutablePointer<Int16>.allocate(capacity: rows * cols)  // original column order
        defer { wp.deallocate(); up.deallocate(); sp.deallocate(); zp.deallocate(); codes.deallocate() }
        wp.initialize(from: w, count: rows * cols)
        up.initialize(from: u, count: cols * cols)
        sp.initialize(from: scales, count: rows * groups)
        zp.initialize(from: zeros, count: rows * groups)

        var start = 0
        while start < cols {
            let end = min(start + block, cols), width = end - start
            var errors = [Float](repeating: 0, count: rows * width)
            errors.withUnsafeMutableBufferPointer { eb in
                let ep = eb.baseAddress!
                Parallel.forRanges(rows, grain: 4) { range in
                    for r in range {
                        let row = wp + r * cols
                        for c in start..<end {
                            let original = order[c], g = r * groups + original / groupSize
                            if dynamicGroups && c % groupSize == 0 {
                                let (lo, hi) = RoundToNearest.range(row + c, count: min(cols, c + groupSize) - c)
                                (sp[g], zp[g]) = grid.parameters(min: lo, max: hi)
                            }
                            let q = grid.code(row[c], scale: sp[g], zero: zp[g])
                            codes[r * cols + original] = Int16(q)
                            let uRow = up + c * cols
                            let err = (row[c] - grid.value(code: q, scale: sp[g], zero: zp[g])) / uRow[c]
                            for j in (c + 1)..<end { row[j] -= err * uRow[j] }
                            ep[r * width + c - start] = err
                        }
                    }
                }
            }
            if end < cols { SparseGPT.propagate(errors, into: wp, rows: rows, cols: cols, block: start, end: end, u: u) }
            start = end
        }
        return layout.makeTensor(shape: src.shape) { base in
            for r in 0..<rows {
                let row = base + r * layout.rowBytes
                for g in 0..<groups {
                    layout.setScale(row, group: g, sp[r * groups + g])
                    if !grid.symmetric { layout.setZero(row, group: g, zp[r * groups + g]) }
                }
                for c in 0..<cols { layout.setCode(row, index: c, Int(codes[r * cols + c])) }
            }
        }
    }
}
