import Foundation

/// Learned step size quantization (LSQ; Esser et al. 2019, "Learned Step Size Quantization"):
/// quantization-aware training on a symmetric integer grid whose scales are trained too. For a
/// weight w with its group's scale s, v = w / s and codes −Qn...Qp:
///
///     Q(w)  = clamp(round(v), −Qn, Qp) · s
///     ∂Q/∂s = round(v) − v  if −Qn < v < Qp;   −Qn if v ≤ −Qn;   Qp if v ≥ Qp
///     ∂Q/∂w = 1 inside the range, 0 outside (the clipped straight-through estimator)
///
/// The scale's gradient is multiplied by g = 1/√(N·Qp), N the number of weights the scale
/// serves (a group, a row or the tensor), which keeps the scale's updates on the scale of the
/// weights' (it matters for SGD; AdamW normalizes it away but for eps and clipping).
///
/// Scales start at `quantize`'s (max|w| / Qp per group), so before the first update the
/// forward pass is plain QAT's. They have their own optimizer of the run's kind, betas and
/// learning-rate schedule, without weight decay and outside gradient clipping, and stay
/// positive. At the end the model is quantized with the learned scales: the codes and scales
/// the forward pass used.
public final class LearnedStepSizes: TrainingHook, @unchecked Sendable {
    struct Layout {
        let grid: QuantGrid
        let rows: Int, columns: Int, groupSize: Int, groupsPerRow: Int
        var perTensor: Bool { grid.grouping == .perTensor }
        var scaleCount: Int { perTensor ? 1 : rows * groupsPerRow }
    }

    /// The fake-quantized weights with learned scales, in the quantizer's order.
    public let names: [String]
    let layouts: [String: Layout]
    /// One entry per weight (same name), one scale per group: row by row, groups along the row.
    public let scales: ParameterSet
    let optimizer: Optimizer
    let schedule: LearningRateSchedule
    /// The smallest scale an update may leave (0 or less would make Q(w) undefined).
    static let minimumScale: Float = 1e-10

    /// Learned scales for every weight `plan` quantizes; each must be on a symmetric integer grid.
    /// `parameters` holds the master weights the scales start from.
    init(plan: [(name: String, scheme: Quantization.TensorScheme)], parameters: ParameterSet, training: TrainingOptions) throws {
        var layouts: [String: Layout] = [:], shapes: [(name: String, shape: [Int])] = []
        for (name, scheme) in plan {
            guard case .roundToNearest(let grid) = scheme, grid.symmetric else {
                throw LLMOptError.invalidArgument(name: "qat-learn-scales", reason: "learned scales (LSQ) need a symmetric integer grid (int2...int8 or rtn, symmetric); '\(name)' is not on one")
            }
            guard let e = parameters.entry(name), e.shape.count == 2 else {
                throw LLMOptError.invalidArgument(name: "qat", reason: "'\(name)' is not a trained matrix of this model")
            }
            let gl = try grid.layout(columns: e.shape[1])
            let layout = Layout(grid: grid, rows: e.shape[0], columns: e.shape[1], groupSize: gl.groupSize, groupsPerRow: gl.groupsPerRow)
            layouts[name] = layout
            shapes.append((name, [layout.scaleCount]))
        }
        names = shapes.map(\.name)
        self.layouts = layouts
        scales = ParameterSet(shapes: shapes)
        for name in names {
            let l = layouts[name]!, w = UnsafeBufferPointer(start: ConstFloatPtr(parameters.value(name)), count: l.rows * l.columns)
            var initial = [Float](repeating: 0, count: l.scaleCount)
            if l.perTensor {
                let (lo, hi) = RoundToNearest.range(w.baseAddress!, count: w.count)
                initial[0] = l.grid.parameters(min: lo, max: hi).scale
            } else {
                for r in 0..<l.rows {
                    for g in 0..<l.groupsPerRow {
                        let start = r * l.columns + g * l.groupSize, end = r * l.columns + min(l.columns, (g + 1) * l.groupSize)
                        let (lo, hi) = RoundToNearest.range(w.baseAddress! + start, count: end - start)
                        initial[r * l.groupsPerRow + g] = l.grid.parameters(min: lo, max: hi).scale
                    }
                }
            }
            scales.setValues(name, initial)
        }
        optimizer = Optimizer(training.optimizer, parameterCount: scales.count, weightDecay: 0)
        optimizer.beta1 = training.beta1
        optimizer.beta2 = training.beta2
        optimizer.eps = training.eps
        optimizer.momentum = training.momentum
        schedule = training.schedulePlan
    }

    /// The learned scales of `name` (row by row, groups along the row).
    public func scales(_ name: String) -> [Float] { scales.values(name) }

    /// `tensor` (the weight `name`) quantized on its grid with its learned scales.
    func quantize(_ tensor: Tensor, name: String) throws -> Tensor {
        try RoundToNearest.quantize(tensor, grid: layouts[name]!.grid, name: name, scales: scales.values(name))
    }

    /// From the gradients with respect to the fake-quantized weights (what the backward pass
    /// leaves in `parameters`' gradients), sets the scales' gradients, and zeroes the weights'
    /// gradients where w / s lies outside the grid (the clipped straight-through estimator).
    func computeGradients(_ parameters: ParameterSet) {
        scales.zeroGradients()
        for name in names {
            let l = layouts[name]!
            let w = ConstFloatPtr(parameters.value(name)), dq = parameters.grad(name)
            let s = ConstFloatPtr(scales.value(name)), ds = scales.grad(name)
            let qn = Float(-l.grid.minCode), qp = Float(l.grid.maxCode)
            var sums = [Double](repeating: 0, count: l.rows * l.groupsPerRow)
            sums.withUnsafeMutableBufferPointer { out in
                let sum = out.baseAddress!
                Parallel.forRanges(l.rows, grain: 8) { range in
                    for r in range {
                        for g in 0..<l.groupsPerRow {
                            let k = r * l.groupsPerRow + g, scale = s[l.perTensor ? 0 : k]
                            var acc = 0.0
                            for i in (r * l.columns + g * l.groupSize)..<(r * l.columns + min(l.columns, (g + 1) * l.groupSize)) {
                                let v = w[i] / scale, grad = dq[i]
                                let dQds: Float
                                if v <= -qn {
                                    dQds = -qn
                                    dq[i] = 0
                                } else if v >= qp {
                                    dQds = qp
                                    dq[i] = 0
                                } else {
                                    dQds = v.rounded(.toNearestOrEven) - v
                                }
                                acc += Double(grad) * Double(dQds)
                            }
                            sum[k] = acc
                        }
                    }
                }
            }
            if l.perTensor {
                ds[0] = Float(sums.reduce(0, +) / (Double(l.rows * l.columns) * Double(qp)).squareRoot())
            } else {
                for r in 0..<l.rows {
                    for g in 0..<l.groupsPerRow {
                        let k = r * l.groupsPerRow + g, n = min(l.columns, (g + 1) * l.groupSize) - g * l.groupSize
                        ds[k] = Float(sums[k] / (Double(n) * Double(qp)).squareRoot())
                    }
                }
            }
        }
    }

    public func beforeUpdate(step: Int, trainer: Trainer) throws { computeGradients(trainer.graph.parameters) }

    public func afterUpdate(step: Int, trainer: Trainer) throws { update(lr: schedule.lr(step: step)) }

    /// One optimizer step of the scales, which then stay at least `minimumScale`.
    func update(lr: Double) {
        optimizer.step(scales, lr: lr)
        scales.withValues { v in for i in v.indices where !(v[i] >= Self.minimumScale) { v[i] = Self.minimumScale } }
    }
}
