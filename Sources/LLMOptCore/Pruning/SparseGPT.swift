import Foundation

/// SparseGPT (Frantar and Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately
/// Pruned in One-Shot"): prunes a linear layer column by column and, after each column, moves
/// the error it made onto the columns not yet visited (optimal brain surgeon updates with the
/// inverse Hessian H⁻¹ of the layer-wise squared error, H = Σ x xᵀ over calibration tokens).
///
/// Columns go in blocks of `blockSize`: at the start of a block the mask is chosen over the whole
/// block from w² / [U]²_jj (U the upper Cholesky factor of H⁻¹, so [U]_jj² is what the paper
/// writes [H⁻¹]_jj after the earlier columns are eliminated), keeping round(s·n) exact per block;
/// with an N:M pattern each row chooses per group of M columns when it reaches the group.
/// Inside a block rows are independent, so they run in parallel; the block's accumulated
/// error reaches the later columns in one GEMM.
enum SparseGPT {
    /// What SparseGPT needs from a layer's Hessian: U, the upper Cholesky factor of the dampened
    /// H⁻¹, and the inputs that never fired (H_jj = 0). Layers sharing inputs share one factor.
    struct InverseFactor {
        let columns: Int
        let u: [Float]
        let deadColumns: [Int]

        /// From `hessian` = Σ x xᵀ ([n, n], row-major): dead inputs get H_jj = 1 (their weights
        /// are pruned outright), then λ = dampening · mean(diag H) is added to the diagonal.
        init(hessian: [Double], columns n: Int, dampening: Double, name: String) throws {
            guard dampening >= 0 else { throw LLMOptError.invalidArgument(name: "dampening", reason: "must be >= 0, got \(dampening)") }
            var h = hessian
            deadColumns = (0..<n).filter { h[$0 * n + $0] == 0 }
            for j in deadColumns { h[j * n + j] = 1 }
            let meanDiagonal = (0..<n).reduce(0.0) { $0 + h[$1 * n + $1] } / Double(n)
            for j in 0..<n { h[j * n + j] += dampening * meanDiagonal }
            columns = n
            u = try upperCholeskyOfInverse(h, n: n, name: name).map { Float($0) }
        }
    }

    /// A pruned and updated copy of `weight` [out, in], given `hessian` = Σ x xᵀ ([in, in], row-major).
    static func prune(_ name: String, weight: Tensor, hessian: [Double], sparsity: Double, pattern: NMPattern?,
                      blockSize: Int, dampening: Double) throws -> Tensor {
        let cols = weight.columns
        guard hessian.count == cols * cols else {
            throw LLMOptError.shapeMismatch(name: name, expected: [weight.shape[0], Int(Double(hessian.count).squareRoot())], actual: weight.shape, source: "calibration")
        }
        let factor = try InverseFactor(hessian: hessian, columns: cols, dampening: dampening, name: name)
        return try prune(name, weight: weight, factor: factor, sparsity: sparsity, pattern: pattern, blockSize: blockSize)
    }

    static func prune(_ name: String, weight: Tensor, factor: InverseFactor, sparsity: Double, pattern: NMPattern?,
                      blockSize: Int) throws -> Tensor {
        let src = weight.toF32()
        let (rows, cols) = (src.rows, src.columns)
        guard factor.columns == cols else {
            throw LLMOptError.shapeMismatch(name: name, expected: [rows, factor.columns], actual: src.shape, source: "calibration")
        }
        guard blockSize > 0 else { throw LLMOptError.invalidArgument(name: "blockSize", reason: "must be positive, got \(blockSize)") }
        if let pattern {
            try pattern.check(name, columns: cols)
            guard blockSize % pattern.m == 0 else {
                throw LLMOptError.invalidArgument(name: "blockSize", reason: "\(blockSize) is not a multiple of the pattern's M = \(pattern.m)")
            }
        }
        var w = src.floats()
        for j in factor.deadColumns { for r in 0..<rows { w[r * cols + j] = 0 } }
        let u = factor.u

        w.withUnsafeMutableBufferPointer { wb in
            let wp = wb.baseAddress!
            var block = 0
            while block < cols {
                let end = min(block + blockSize, cols), width = end - block
                let mask = pattern == nil ? blockMask(wp, rows: rows, cols: cols, from: block, width: width, u: u, sparsity: sparsity) : []
                var errors = [Float](repeating: 0, count: rows * width)
                errors.withUnsafeMutableBufferPointer { eb in
                    let ep = eb.baseAddress!
                    Parallel.forRanges(rows, grain: 4) { range in
                        var nmScores = [Float](repeating: 0, count: pattern?.m ?? 0)
                        var nmRow = [Float](repeating: 0, count: pattern?.m ?? 0)
                        for r in range {
                            let row = wp + r * cols
                            for i in 0..<width {
                                let c = block + i
                                if let pattern, i % pattern.m == 0 {
                                    for j in 0..<pattern.m {
                                        let d = u[(c + j) * cols + c + j]
                                        nmScores[j] = row[c + j] * row[c + j] / (d * d)
                                        nmRow[j] = 1
                                    }
                                    nmRow.withUnsafeMutableBufferPointer { pattern.apply(row: $0.baseAddress!, scores: nmScores, columns: pattern.m) }
                                }
                                let pruned = pattern.map { nmRow[i % $0.m] == 0 } ?? mask[r * width + i]
                                guard pruned else { continue }
                                let d = u[c * cols + c]
                                let err = row[c] / d
                                let uRow = u.withUnsafeBufferPointer { $0.baseAddress! + c * cols }
                                for j in c..<end { row[j] -= err * uRow[j] }
                                row[c] = 0
                                ep[r * width + i] = err
                            }
                        }
                    }
                }
                if end < cols { propagate(errors, into: wp, rows: rows, cols: cols, block: block, end: end, u: u) }
                block = end
            }
        }
        return Tensor(shape: src.shape, floats: w)
    }

    /// The block's mask: the round(s·n) entries of lowest w² / U_jj² over all its rows and columns.
    static func blockMask(_ w: UnsafeMutablePointer<Float>, rows: Int, cols: Int, from block: Int, width: Int, u: [Float], sparsity: Double) -> [Bool] {
        var scores = [Float](repeating: 0, count: rows * width)
        for r in 0..<rows {
            for i in 0..<width {
                let c = block + i, d = u[c * cols + c], v = w[r * cols + c]
                scores[r * width + i] = v * v / (d * d)
            }
        }
        return scores.withUnsafeBufferPointer { s in
            let cut = Magnitude.cut([s], k: Magnitude.pruneCount(sparsity: sparsity, of: s.count))
            var ties = cut?.ties ?? 0
            return s.map { Magnitude.isPruned(Magnitude.key($0), cut, tiesLeft: &ties) }
        }
    }

    /// W[:, end...] −= E · U[block..<end, end...], the lazy batch update, as one GEMM.
    static func propagate(_ errors: [Float], into w: UnsafeMutablePointer<Float>, rows: Int, cols: Int, block: Int, end: Int, u: [Float]) {
        let width = end - block, rest = cols - end
        // Linear.forward computes x · Wᵀ, so pass U's block rows transposed: [rest, width].
        let ut = Tensor.f32(shape: [rest, width]) { out in
            for i in 0..<width { for j in 0..<rest { out[j * width + i] = u[(block + i) * cols + end + j] } }
        }
        var delta = [Float](repeating: 0, count: rows * rest)
        errors.withUnsafeBufferPointer { e in
            delta.withUnsafeMutableBufferPointer { Linear.forward(e.baseAddress!, rows: rows, weight: ut, into: $0.baseAddress!) }
        }
        for r in 0..<rows { for j in 0..<rest { w[r * cols + end + j] -= delta[r * rest + j] } }
    }

    /// Σ a[k]·b[k] over `count` doubles, with eight independent accumulators (a plain loop is a
    /// serial chain of additions the compiler may not reorder).
    @inline(__always) static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, count: Int) -> Double {
        var acc = SIMD8<Double>()
        var k = 0
        while k + 8 <= count {
            acc = acc + UnsafeRawPointer(a + k).loadUnaligned(as: SIMD8<Double>.self) * UnsafeRawPointer(b + k).loadUnaligned(as: SIMD8<Double>.self)
            k += 8
        }
        var s = acc.sum()
        while k < count { s += a[k] * b[k]; k += 1 }
        return s
    }

    /// U upper triangular with H⁻¹ = Uᵀ U. With J the reversal permutation, the lower Cholesky
    /// factor L of J H J gives H = R Rᵀ for the upper R = J L J, so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹:
    /// one Cholesky and one triangular inverse, no explicit inverse of H.
    static func upperCholeskyOfInverse(_ h: [Double], n: Int, name: String) throws -> [Double] {
        // Lower Cholesky of the reversed matrix, row by row (dot products of contiguous rows).
        var l = [Double](repeating: 0, count: n * n)
        try l.withUnsafeMutableBufferPointer { lb in
            let lp = lb.baseAddress!
            for i in 0..<n {
                let ri = lp + i * n
                for j in 0...i {
                    let rj = lp + j * n
                    let s = h[(n - 1 - i) * n + (n - 1 - j)] - dot(ri, rj, count: j)
                    if i == j {
                        guard s > 0 else {
                            throw LLMOptError.invalidArgument(name: "dampening", reason: "the Hessian of '\(name)' is not positive definite; raise the dampening")
                        }
                        ri[i] = s.squareRoot()
                    } else {
                        ri[j] = s / rj[j]
                    }
                }
            }
        }
        // R = J L J is upper triangular: R[i][j] = L[n-1-i][n-1-j].
        var r = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { r[i * n + j] = l[(n - 1 - i) * n + (n - 1 - j)] } }
        // U = R⁻¹, row by row from U R = I: each row is a forward substitution of axpys over R's rows.
        var u = [Double](repeating: 0, count: n * n)
        r.withUnsafeBufferPointer { rb in
            u.withUnsafeMutableBufferPointer { ub in
                let rp = rb.baseAddress!, up = ub.baseAddress!
                Parallel.forRanges(n, grain: 8) { range in
                    var acc = [Double](repeating: 0, count: n)
                    for i in range {
                        for k in 0..<n { acc[k] = k == i ? 1 : 0 }
                        let ui = up + i * n
                        for k in i..<n {
                            let v = acc[k] / rp[k * n + k]
                            ui[k] = v
                            if v != 0 { for j in (k + 1)..<n { acc[j] -= v * rp[k * n + j] } }
                        }
                    }
                }
            }
        }
        return u
    }
}
