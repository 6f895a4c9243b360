import Foundation

/// Settings of AWQ.
public struct AWQOptions: Sendable {
    /// Exponents α tried: 0, 1/n, ..., (n-1)/n (α = 0 is plain round-to-nearest).
    public var gridPoints: Int
    /// Whether to search, per row and group, how far to clip the range before rounding (`AWQ.clip`).
    public var clip: Bool

    public init(gridPoints: Int = 20, clip: Bool = true) {
        self.gridPoints = gridPoints
        self.clip = clip
    }
}

/// AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization"): input channels that see
/// large activations matter most, so before rounding, weight column j is multiplied by
/// s_j = mean|x_j|^α (normalized so that max·min = 1) and the layer's input is divided by s_j;
/// the product is unchanged in exact arithmetic but the salient columns get finer steps. α is
/// searched on a grid to minimize the layer's output error on calibration inputs,
/// ‖X Wᵀ − (X/s) Q(W·s)ᵀ‖² = Σ_rows d H dᵀ with d = W − Q(W·s)/s and H = Σ x xᵀ.
///
/// Linears that read one input share one s (Llama's q/k/v and gate/up, GPT-2's c_attn). The
/// division by s is folded into what produces the input, so no extra operation runs:
/// RMSNorm/LayerNorm weights (and LayerNorm bias) before q/k/v, gate/up, c_attn and c_fc; the
/// rows of v_proj before o_proj (only without grouped-query attention, where a v row feeds one
/// o column); the rows of up_proj before down_proj. Inputs with nothing to fold into (GPT-2's
/// MLP projection after GELU, o_proj under GQA) are quantized without scales, and the report
/// says so. After scaling, the paper's weight clipping (`clip`) picks each group's range.
public enum AWQ {
    /// Where a shared input comes from, to fold 1/s into it.
    enum Source {
        /// A norm's weight (and bias, for LayerNorm).
        case norm(weight: String, bias: String?)
        /// Rows `range` of a linear weight (and its bias) produce the input channels.
        case rows(weight: String, bias: String?, range: Range<Int>)
        case none(reason: String)
    }

    struct Group {
        let members: [String]
        let source: Source
    }

    /// The scale groups of every decoder layer, from the family's block topology: the
    /// attention inputs and the MLP inputs share their norm; the attention output reads v's rows
    /// (fused: the last third of qkv's) when each feeds one output column; the MLP output reads
    /// the rows of its linear input when the family has one.
    static func groups(_ model: Model) -> [Group] {
        let c = model.config
        let family = c.architecture.family, b = family.block
        var out: [Group] = []
        for l in 0..<c.numLayers {
            let p = family.names.prefix(l)
            func bias(_ weight: String) -> String? {
                let name = p + weight.replacingSuffix(".weight", with: ".bias")
                return model.weights[name] == nil ? nil : name
            }
            out.append(Group(members: b.attentionInputs.map { p + $0 },
                             source: .norm(weight: p + b.attentionNorm.weight, bias: b.attentionNorm.bias.map { p + $0 })))
            let o = model.weights[p + b.attentionOutput]
            switch b.attention {
            case let .separate(_, _, v):
                if let vt = model.weights[p + v], let o, vt.shape[0] == o.columns {
                    out.append(Group(members: [p + b.attentionOutput], source: .rows(weight: p + v, bias: bias(v), range: 0..<vt.shape[0])))
                } else {
                    out.append(Group(members: [p + b.attentionOutput], source: .none(reason: "grouped-query attention: a v_proj row feeds several o_proj columns")))
                }
            case let .fused(qkv):
                let rows = model.weights[p + qkv]?.shape[0] ?? 0
                out.append(Group(members: [p + b.attentionOutput], source: .rows(weight: p + qkv, bias: bias(qkv), range: (2 * rows / 3)..<rows)))
            }
            out.append(Group(members: b.mlpInputs.map { p + $0 }, source: .norm(weight: p + b.mlpNorm.weight, bias: b.mlpNorm.bias.map { p + $0 })))
            if let up = b.mlpLinearInput {
                let rows = model.weights[p + up]?.shape[0] ?? 0
                out.append(Group(members: [p + b.mlpOutput], source: .rows(weight: p + up, bias: bias(up), range: 0..<rows)))
            } else {
                out.append(Group(members: [p + b.mlpOutput], source: .none(reason: "a nonlinearity comes before it: nothing linear to fold 1/s into")))
            }
        }
        return out
    }

    /// The output error Σ_rows d H dᵀ of replacing `w` by `q` (both [rows, cols] float32).
    static func outputError(_ w: [Float], _ q: [Float], rows: Int, hessian: Tensor) -> Double {
        let cols = hessian.columns
        let d = zip(w, q).map { $0 - $1 }
        var dh = [Float](repeating: 0, count: rows * cols)
        d.withUnsafeBufferPointer { db in dh.withUnsafeMutableBufferPointer { Linear.forward(db.baseAddress!, rows: rows, weight: hessian, into: $0.baseAddress!) } }
        var total = 0.0
        for i in 0..<(rows * cols) { total += Double(dh[i]) * Double(d[i]) }
        return total
    }

    /// Searches α for linears `weights` that share one input; returns s (all ones when α = 0
    /// wins), the chosen α, and the output errors at α = 0 and at the chosen α.
    public static func searchScales(weights: [Tensor], hessian: [Float], meanAbs: [Float], grid: QuantGrid,
                                    options: AWQOptions = AWQOptions(), name: String) throws -> (scales: [Float], alpha: Float, errorRTN: Double, error: Double) {
        let cols = meanAbs.count
        guard options.gridPoints > 0 else { throw LLMOptError.invalidArgument(name: "gridPoints", reason: "must be positive, got \(options.gridPoints)") }
        guard hessian.count == cols * cols, weights.allSatisfy({ $0.rank == 2 && $0.columns == cols }) else {
            throw LLMOptError.shapeMismatch(name: name, expected: [cols, cols], actual: [hessian.count], source: "AWQ statistics")
        }
        let h = Tensor(shape: [cols, cols], floats: hessian)
        let originals = weights.map { $0.floats() }
        var best: (scales: [Float], alpha: Float, error: Double)?
        var errorRTN = 0.0
        for step in 0..<options.gridPoints {
            let alpha = Float(step) / Float(options.gridPoints)
            var s = meanAbs.map { Float.maximum(pow($0, alpha), 1e-4) }
            let norm = (s.max()! * s.min()!).squareRoot()
            s = s.map { $0 / norm }
            var error = 0.0
            for (w, original) in zip(weights, originals) {
                let rows = w.rows
                let scaled = Tensor(shape: w.shape, floats: original.enumerated().map { $0.element * s[$0.offset % cols] })
                let q = try RoundToNearest.quantize(scaled, grid: grid, name: name).floats()
                let effective = q.enumerated().map { $0.element / s[$0.offset % cols] }
                error += outputError(original, effective, rows: rows, hessian: h)
            }
            if step == 0 { errorRTN = error }
            if best == nil || error < best!.error { best = (s, alpha, error) }
        }
        return (best!.scales, best!.alpha, errorRTN, best!.error)
    }

    /// Fractions of a group's range tried by the clipping search: 1, 0.95, ..., 0.55 (as the
    /// paper's code: 20 steps down to half, of which the first 10).
    static let clipRatios: [Float] = (0..<10).map { 1 - Float($0) / 20 }

    /// Whether the clipping search runs on a linear. Not on the query and key projections (the
    /// paper's code skips them: their outputs meet in the q·k product, which a layer's own
    /// output error does not capture), nor GPT-2's fused c_attn, which holds both.
    static func clips(_ name: String) -> Bool {
        !(name.contains("q_proj") || name.contains("k_proj") || name.contains("c_attn"))
    }

    /// AWQ's weight clipping: for each row and group of `w` (already multiplied by the input
    /// scales `s`), the range round-to-nearest sees is shrunk to the fraction r of `clipRatios`
    /// that minimizes the group's output error on the calibration inputs, d H_gg dᵀ with
    /// d = w_g − Q_r(w_g) and H_gg the group's block of the input Hessian (divided by s_i s_j for
    /// the scaled inputs). A few outliers then round worse and the other values in finer steps.
    /// Returns `w` with each group clamped to its chosen range (so RTN finds that range), and
    /// the summed group errors at r = 1 and at the chosen ratios.
    static func clip(_ w: Tensor, hessian: [Float], inputScales s: [Float]?, grid: QuantGrid) -> (Tensor, before: Double, after: Double) {
        let f = w.toF32()
        let rows = f.rows, cols = f.columns
        guard grid.grouping != .perTensor, rows > 0, cols > 0, hessian.count == cols * cols else { return (f, 0, 0) }
        let size = grid.grouping.groupSize(columns: cols)
        let src = f.f32Pointer
        var clipped = [Float](UnsafeBufferPointer(start: src, count: rows * cols))
        var before = 0.0, after = 0.0
        for start in stride(from: 0, to: cols, by: size) {
            let n = min(size, cols - start)
            let block = Tensor.f32(shape: [n, n]) { h in
                for i in 0..<n {
                    for j in 0..<n {
                        let scale = s.map { $0[start + i] * $0[start + j] } ?? 1
                        h[i * n + j] = hessian[(start + i) * cols + start + j] / scale
                    }
                }
            }
            var ranges = [(Float, Float)](repeating: (0, 0), count: rows)
            for r in 0..<rows { ranges[r] = RoundToNearest.range(src + r * cols + start, count: n) }
            var best = [(error: Double, ratio: Float)](repeating: (.infinity, 1), count: rows)
            var d = [Float](repeating: 0, count: rows * n), dh = [Float](repeating: 0, count: rows * n)
            for ratio in clipRatios {
                d.withUnsafeMutableBufferPointer { dp in
                    let dp = dp.baseAddress!
                    Parallel.forRanges(rows, grain: 16) { range in
                        for r in range {
                            let (lo, hi) = ranges[r]
                            let p = grid.parameters(min: lo * ratio, max: hi * ratio)
                            let x = src + r * cols + start
                            for i in 0..<n {
                                let v = min(max(x[i], lo * ratio), hi * ratio)
                                dp[r * n + i] = x[i] - grid.value(code: grid.code(v, scale: p.scale, zero: p.zero), scale: p.scale, zero: p.zero)
                            }
                        }
                    }
                }
                d.withUnsafeBufferPointer { dp in dh.withUnsafeMutableBufferPointer { Linear.forward(dp.baseAddress!, rows: rows, weight: block, into: $0.baseAddress!) } }
                for r in 0..<rows {
                    var e = 0.0
                    for i in 0..<n { e += Double(d[r * n + i]) * Double(dh[r * n + i]) }
                    if ratio == 1 { before += e }
                    if e < best[r].error { best[r] = (e, ratio) }
                }
            }
            for r in 0..<rows {
                after += best[r].error
                let (lo, hi) = ranges[r], ratio = best[r].ratio
                for i in 0..<n { clipped[r * cols + start + i] = min(max(src[r * cols + start + i], lo * ratio), hi * ratio) }
            }
        }
        return (Tensor(shape: f.shape, floats: clipped), before, after)
    }

    /// How AWQ changed one weight: columns multiplied by `columns`, rows divided by `rows`.
    struct WeightScaling {
        var columns: [Float]?
        var rows: [Float]?
        var rowRange: Range<Int> = 0..<0

        /// Undoes the scaling of a stored [rows, cols] weight: what the layer computes in the
        /// original model's terms.
        func undo(_ w: inout [Float], cols: Int) {
            if let columns { for i in 0..<w.count { w[i] /= columns[i % cols] } }
            if let rows { for (k, r) in rowRange.enumerated() { for j in 0..<cols { w[r * cols + j] *= rows[k] } } }
        }
    }

    /// Scales `model`'s selected linears (and folds 1/s into their sources); returns the scaled
    /// model (still float, same function up to rounding), how each weight was scaled, and notes.
    static func scale(_ model: Model, selected: Set<String>, statistics: LayerInputStatistics, grid: QuantGrid,
                      options: AWQOptions) throws -> (Model, [String: WeightScaling], [String]) {
        var result = model
        var scalesByWeight: [String: WeightScaling] = [:]
        var notes: [String] = []
        for group in groups(model) {
            let members = group.members.filter { selected.contains($0) }
            guard let first = members.first else { continue }
            if case .none(let reason) = group.source {
                notes.append("AWQ: \(members.joined(separator: ", ")) quantized without scales (\(reason))")
                continue
            }
            guard let stats = statistics.entries[first], members.allSatisfy({ statistics.entries[$0] === stats }) else {
                throw LLMOptError.unsupported("AWQ: no shared calibration statistics for \(members.joined(separator: ", "))")
            }
            let (s, alpha, errorRTN, error) = try searchScales(weights: members.map { try model.weight($0) }, hessian: stats.hessian,
                                                                meanAbs: stats.meanAbs, grid: grid, options: options, name: first)
            guard alpha > 0 else {
                notes.append("AWQ: \(members.joined(separator: ", ")): α = 0 (no scaling) was best")
                continue
            }
            // Every linear that reads this input gets W·s, quantized or not, so the model stays exact.
            for name in group.members {
                let w = try model.weight(name).toF32()
                let cols = w.columns
                result.weights[name] = Tensor.f32(shape: w.shape) { out in
                    for i in 0..<w.count { out[i] = w.f32Pointer[i] * s[i % cols] }
                }
                scalesByWeight[name, default: WeightScaling()].columns = s
            }
            switch group.source {
            case .norm(let weight, let bias):
                for t in [weight, bias].compactMap({ $0 }) { result.weights[t] = divide(try model.weight(t), by: s, rows: 0..<s.count, perRow: false) }
            case .rows(let weight, let bias, let range):
                guard range.count == s.count else {
                    throw LLMOptError.shapeMismatch(name: weight, expected: [s.count], actual: [range.count], source: "AWQ")
                }
                result.weights[weight] = divide(try result.weight(weight), by: s, rows: range, perRow: true)
                scalesByWeight[weight, default: WeightScaling()].rows = s
                scalesByWeight[weight, default: WeightScaling()].rowRange = range
                if let bias, let b = model.weights[bias] { result.weights[bias] = divide(b, by: s, rows: range, perRow: false) }
            case .none:
                break
            }
            notes.append(String(format: "AWQ: %@: α = %.2f, calibration output error %.4g -> %.4g (%.1f%% of RTN's)",
                                members.joined(separator: ", "), alpha, errorRTN, error, 100 * error / max(errorRTN, .leastNonzeroMagnitude)))
        }
        return (result, scalesByWeight, notes)
    }

    /// Divides a vector's entries `rows` (perRow false) or a matrix's rows `rows` (perRow true) by s.
    static func divide(_ t: Tensor, by s: [Float], rows range: Range<Int>, perRow: Bool) -> Tensor {
        let f = t.toF32()
        let cols = perRow ? f.columns : 1
        return Tensor.f32(shape: f.shape) { out in
            for i in 0..<f.count { out[i] = f.f32Pointer[i] }
            for (k, r) in range.enumerated() { for j in 0..<cols { out[r * cols + j] /= s[k] } }
        }
    }
}
