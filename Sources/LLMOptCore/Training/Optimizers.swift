import Foundation

/// The optimizers, with PyTorch's exact semantics (`torch.optim.AdamW` and `torch.optim.SGD`,
/// single-tensor implementations): per element in float32, scalars in float64 applied as float32.
public enum OptimizerKind: String, Sendable, Codable, CaseIterable {
    case adamw, sgd
}

public final class Optimizer: @unchecked Sendable {
    public let kind: OptimizerKind
    public var beta1: Double = 0.9
    public var beta2: Double = 0.95
    public var eps: Double = 1e-8
    public var weightDecay: Double
    /// SGD momentum (0: plain SGD).
    public var momentum: Double = 0
    /// Updates applied so far (AdamW's t after the last step).
    public private(set) var stepCount = 0
    /// AdamW: m then v, each `parameters.count` floats; SGD with momentum: the momentum buffer.
    var state: [Float]
    let count: Int

    public init(_ kind: OptimizerKind, parameterCount: Int, weightDecay: Double) {
        self.kind = kind
        self.weightDecay = weightDecay
        count = parameterCount
        state = [Float](repeating: 0, count: kind == .adamw ? 2 * parameterCount : parameterCount)
    }

    /// Names of the state tensors of one parameter, as checkpoints store them.
    var stateNames: [String] { kind == .adamw ? ["exp_avg", "exp_avg_sq"] : ["momentum_buffer"] }

    /// One update of every parameter from its gradient, at learning rate `lr`.
    public func step(_ params: ParameterSet, lr: Double) {
        stepCount += 1
        switch kind {
        case .adamw: adamW(params, lr: lr)
        case .sgd: sgd(params, lr: lr)
        }
    }

    /// p ← p·(1 − lr·wd) (2-D parameters only); m ← m + (1−β1)(g − m); v ← β2·v + (1−β2)·g²;
    /// p ← p − (lr/bc1) · m / (√v/√bc2 + eps), bc_i = 1 − β_i^t.
    private func adamW(_ params: ParameterSet, lr: Double) {
        let t = Double(stepCount)
        let bc1 = 1 - pow(beta1, t), bc2 = 1 - pow(beta2, t)
        let stepSize = Float(lr / bc1), bc2Sqrt = Float(bc2.squareRoot())
        let b1 = Float(1 - beta1), b2 = Float(beta2), b2c = Float(1 - beta2), epsF = Float(eps)
        let decay = Float(1 - lr * weightDecay)
        let n = count
        state.withUnsafeMutableBufferPointer { st in
            let m = st.baseAddress!, v = st.baseAddress! + n
            params.withValues { pv in
                params.withGradients { gv in
                    let p = pv.baseAddress!, g = gv.baseAddress!
                    for e in params.entries {
                        let lo = e.offset, hi = e.offset + e.count
                        let decays = e.decays && weightDecay != 0
                        Parallel.forRanges(hi - lo, grain: 4096) { r in
                            for j in r {
                                let i = lo + j
                                if decays { p[i] *= decay }
                                let gi = g[i]
                                m[i] += b1 * (gi - m[i])
                                v[i] = v[i] * b2 + b2c * gi * gi
                                let denom = v[i].squareRoot() / bc2Sqrt + epsF
                                p[i] -= stepSize * (m[i] / denom)
                            }
                        }
                    }
                }
            }
        }
    }

    /// PyTorch's SGD: g ← g + wd·p (coupled decay, 2-D parameters only); with momentum μ,
    /// buf ← g on the first step, then buf ← μ·buf + g; p ← p − lr·buf (or p − lr·g without momentum).
    private func sgd(_ params: ParameterSet, lr: Double) {
        let lrF = Float(lr), wd = Float(weightDecay), mu = Float(momentum), first = stepCount == 1
        state.withUnsafeMutableBufferPointer { st in
            let buf = st.baseAddress!
            params.withValues { pv in
                params.withGradients { gv in
                    let p = pv.baseAddress!, g = gv.baseAddress!
                    for e in params.entries {
                        let decays = e.decays && wd != 0
                        for i in e.offset..<(e.offset + e.count) {
                            var gi = g[i]
                            if decays { gi += wd * p[i] }
                            if mu != 0 {
                                buf[i] = first ? gi : mu * buf[i] + gi
                                gi = buf[i]
                            }
                            p[i] -= lrF * gi
                        }
                    }
                }
            }
        }
    }

    /// State tensors by name (`exp_avg.<param>` ...), for checkpoints and tests.
    public func stateTensor(_ which: String, for entry: ParameterSet.Entry) -> [Float] {
        guard let k = stateNames.firstIndex(of: which) else { return [] }
        let base = k * count + entry.offset
        return Array(state[base..<(base + entry.count)])
    }

    func setState(_ which: String, for entry: ParameterSet.Entry, _ values: UnsafeBufferPointer<Float>) {
        guard let k = stateNames.firstIndex(of: which) else { return }
        let base = k * count + entry.offset
        for i in 0..<entry.count { state[base + i] = values[i] }
    }

    func restore(stepCount: Int) { self.stepCount = stepCount }
}

/// Learning-rate schedules: linear warmup from 0 over `warmup` steps (step s uses peak·s/warmup),
/// then constant, or a cosine or linear decay from the peak to `minLR` at the last step.
public enum ScheduleKind: String, Sendable, Codable, CaseIterable {
    case cosine, linear, constant
}

public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public var kind: ScheduleKind
    public var peak: Double
    public var minLR: Double
    public var warmup: Int
    public var totalSteps: Int

    public init(kind: ScheduleKind, peak: Double, minLR: Double = 0, warmup: Int = 0, totalSteps: Int) {
        self.kind = kind
        self.peak = peak
        self.minLR = minLR
        self.warmup = warmup
        self.totalSteps = totalSteps
    }

    /// The learning rate of step `s` (1-based), in float64.
    public func lr(step s: Int) -> Double {
        if s <= warmup && warmup > 0 { return peak * Double(s) / Double(warmup) }
        let span = totalSteps - warmup
        guard span > 0 else { return peak }
        let progress = min(1, Double(s - warmup) / Double(span))
        switch kind {
        case .constant: return peak
        case .cosine: return minLR + (peak - minLR) * 0.5 * (1 + cos(Double.pi * progress))
        case .linear: return minLR + (peak - minLR) * (1 - progress)
        }
    }
}

/// Global-norm gradient clipping as `torch.nn.utils.clip_grad_norm_`: every gradient times
/// min(1, maxNorm / (norm + 1e-6)). Returns the norm before clipping and the factor applied.
@discardableResult
public func clipGradients(_ params: ParameterSet, maxNorm: Double?) -> (norm: Double, factor: Double) {
    let norm = params.globalGradientNorm()
    guard let maxNorm, maxNorm > 0 else { return (norm, 1) }
    let factor = Float(min(1, maxNorm / (norm + 1e-6)))
    if factor < 1 { params.scaleGradients(factor) }
    return (norm, Double(factor))
}
