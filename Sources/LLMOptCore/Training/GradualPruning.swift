import Foundation

/// How the target sparsity rises during training.
public enum PruneSchedule: String, Sendable, Codable, CaseIterable {
    /// Zhu & Gupta (2017): s_t = s_f + (s_0 − s_f)·(1 − (t − t0)/(n·Δt))³, fast at first, slow near the end.
    case cubic
    /// s_t = s_0 + (s_f − s_0)·(t − t0)/(n·Δt).
    case linear
    /// All of s_f at the start step, then held (prune once, fine-tune the rest).
    case oneshot
}

/// Settings of magnitude pruning during training.
public struct GradualPruningOptions: Sendable, Equatable {
    /// s_f: the sparsity reached at `end` and held after it.
    public var sparsity: Double
    /// s_0: the sparsity at `start`.
    public var initialSparsity: Double = 0
    public var schedule: PruneSchedule = .cubic
    /// t0: the first pruning step (0: before the first update).
    public var start: Int = 0
    /// t0 + n·Δt: the step after which the sparsity is s_f (default: three quarters of the run).
    public var end: Int?
    /// Δt: steps between mask updates (default: a tenth of end − start).
    public var every: Int?
    /// N:M semi-structured sparsity instead of a fraction: its mask is chosen at `start` and held.
    public var pattern: NMPattern?
    /// Layer: the same sparsity in every matrix; global: one magnitude threshold over all of them.
    public var scope: PruneScope = .layer
    public var targets: [String] = []
    public var ignore: [String] = []

    public init(sparsity: Double) { self.sparsity = sparsity }

    /// The last pruning step of a run of `steps`.
    public func endStep(steps: Int) -> Int {
        if schedule == .oneshot || pattern != nil { return start }
        return end ?? max(start, steps * 3 / 4)
    }

    public func interval(steps: Int) -> Int { every ?? max(1, (endStep(steps: steps) - start) / 10) }

    public func validate(steps: Int) throws {
        func bad(_ name: String, _ reason: String) -> LLMOptError { .invalidArgument(name: name, reason: reason) }
        guard pattern != nil || (sparsity.isFinite && (0..<1).contains(sparsity)) else { throw bad("sparsity", "must be in [0, 1), got \(sparsity)") }
        guard initialSparsity.isFinite, initialSparsity >= 0, initialSparsity <= sparsity || pattern != nil else {
            throw bad("initial-sparsity", "must be in [0, sparsity], got \(initialSparsity)")
        }
        guard start >= 0 else { throw bad("prune-start", "must be 0 or more, got \(start)") }
        let end = endStep(steps: steps)
        guard end >= start, end <= steps else { throw bad("prune-end", "must lie between --prune-start (\(start)) and the last step (\(steps)), got \(end)") }
        if let every { guard every > 0 else { throw bad("prune-every", "must be at least 1, got \(every)") } }
    }

    /// The target sparsity after step `t` when `t` is a pruning step (0: before training), else nil.
    public func target(afterStep t: Int, steps: Int) -> Double? {
        let end = endStep(steps: steps), dt = interval(steps: steps)
        guard t >= start, t <= end, (t - start) % dt == 0 || t == end else { return nil }
        if pattern != nil { return pattern!.sparsity }
        let progress = end > start ? Double(t - start) / Double(end - start) : 1
        switch schedule {
        case .oneshot: return sparsity
        case .linear: return initialSparsity + (sparsity - initialSparsity) * progress
        case .cubic: return sparsity + (initialSparsity - sparsity) * pow(1 - progress, 3)
        }
    }
}

/// Something that acts on a training step around its optimizer update.
public protocol TrainingHook: AnyObject {
    /// After the gradients of step `step` are complete (unscaled), before clipping and the update.
    func beforeUpdate(step: Int, trainer: Trainer) throws
    /// After the update of step `step`.
    func afterUpdate(step: Int, trainer: Trainer) throws
}

/// Gradual magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune"): at each pruning
/// step the smallest-magnitude weights of every selected matrix (or of all of them, global
/// scope) are masked until the schedule's sparsity is reached. Masked weights stay exactly zero:
/// their gradients are zeroed before clipping and the update, their optimizer moments are
/// cleared when the mask takes them (AdamW's update of a zero gradient with zero moments is
/// exactly 0, and decay keeps 0 at 0), and the mask is applied again after every update.
public final class GradualPruner: TrainingHook, @unchecked Sendable {
    public let options: GradualPruningOptions
    /// Pruned matrices, in parameter order.
    public let names: [String]
    /// Per name: 1 where the weight is pruned.
    private var masks: [String: [UInt8]] = [:]
    /// The sparsity of the selected weights after each pruning step: (step, sparsity).
    public private(set) var history: [(step: Int, sparsity: Double)] = []

    /// Attaches to `trainer` (whose model is `model`); weights already exactly zero start masked
    /// (so a resumed run keeps its mask), and step 0 of the schedule is applied at once.
    public init(trainer: Trainer, model: Model, options: GradualPruningOptions) throws {
        try options.validate(steps: trainer.options.steps)
        self.options = options
        let selection = try TensorSelection(targets: options.targets, ignore: options.ignore)
        let params = trainer.graph.parameters
        names = params.entries.filter { $0.shape.count == 2 && selection.selects($0.name, shape: $0.shape, family: model.config.architecture.family) }.map(\.name)
        guard !names.isEmpty else { throw LLMOptError.invalidArgument(name: "targets", reason: "no trained matrix of the model matches the selection") }
        if let pattern = options.pattern {
            for name in names { try pattern.check(name, columns: params.entry(name)!.shape[1]) }
        }
        for name in names {
            let v = params.value(name), n = params.entry(name)!.count
            masks[name] = (0..<n).map { v[$0] == 0 ? 1 : 0 }
        }
        trainer.hooks.append(self)
        if trainer.completedSteps == 0, let s = options.target(afterStep: 0, steps: trainer.options.steps) {
            prune(to: s, trainer: trainer, step: 0)
        }
    }

    /// Fraction of the selected weights that are masked.
    public var sparsity: Double {
        let total = masks.values.reduce(0) { $0 + $1.count }
        let pruned = masks.values.reduce(0) { $0 + $1.reduce(0) { $0 + Int($1) } }
        return total > 0 ? Double(pruned) / Double(total) : 0
    }

    public func beforeUpdate(step: Int, trainer: Trainer) throws {
        let params = trainer.graph.parameters
        for name in names { apply(masks[name]!, to: params.grad(name)) }
    }

    public func afterUpdate(step: Int, trainer: Trainer) throws {
        let params = trainer.graph.parameters
        params.withValues { _ in for name in names { apply(masks[name]!, to: params.value(name)) } }
        if let s = options.target(afterStep: step, steps: trainer.options.steps) { prune(to: s, trainer: trainer, step: step) }
    }

    private func apply(_ mask: [UInt8], to p: FloatPtr) {
        mask.withUnsafeBufferPointer { m in
            Parallel.forRanges(m.count, grain: 65_536) { r in for i in r where m[i] != 0 { p[i] = 0 } }
        }
    }

    /// Grows the masks to sparsity `s` by magnitude (pruned weights are 0 and stay pruned), then
    /// zeroes the newly pruned weights and their optimizer state.
    func prune(to s: Double, trainer: Trainer, step: Int) {
        let params = trainer.graph.parameters
        let entries = names.map { params.entry($0)! }
        let parts = entries.map { UnsafeBufferPointer(start: ConstFloatPtr(params.value($0.name)), count: $0.count) }
        if let pattern = options.pattern {
            for e in entries {
                let cols = e.shape[1], w = params.value(e.name)
                var row = [Float](repeating: 1, count: cols), scores = [Float](repeating: 0, count: cols)
                var mask = masks[e.name]!
                for r in 0..<e.shape[0] {
                    for c in 0..<cols { scores[c] = abs(w[r * cols + c]); row[c] = 1 }
                    row.withUnsafeMutableBufferPointer { p in scores.withUnsafeBufferPointer { pattern.apply(row: p.baseAddress!, scores: $0.baseAddress!, columns: cols) } }
                    for c in 0..<cols where row[c] == 0 { mask[r * cols + c] = 1 }
                }
                masks[e.name] = mask
            }
        } else if options.scope == .global {
            let total = parts.reduce(0) { $0 + $1.count }
            let cut = Magnitude.cut(parts, k: Magnitude.pruneCount(sparsity: s, of: total))
            var ties = cut?.ties ?? 0
            for (e, part) in zip(entries, parts) { mark(e.name, part, cut, &ties) }
        } else {
            for (e, part) in zip(entries, parts) {
                let cut = Magnitude.cut([part], k: Magnitude.pruneCount(sparsity: s, of: part.count))
                var ties = cut?.ties ?? 0
                mark(e.name, part, cut, &ties)
            }
        }
        params.withValues { _ in for name in names { apply(masks[name]!, to: params.value(name)) } }
        trainer.optimizer.clearState(params, names: names, masks: masks)
        history.append((step, sparsity))
    }

    private func mark(_ name: String, _ part: UnsafeBufferPointer<Float>, _ cut: Magnitude.Cut?, _ ties: inout Int) {
        var mask = masks[name]!
        for i in 0..<part.count { if Magnitude.isPruned(Magnitude.key(part[i]), cut, tiesLeft: &ties) { mask[i] = 1 } }
        masks[name] = mask
    }
}

extension Optimizer {
    /// Zeroes every state value (AdamW's moments, SGD's momentum) of the masked weights.
    func clearState(_ params: ParameterSet, names: [String], masks: [String: [UInt8]]) {
        let buffers = state.count / max(count, 1)
        for name in names {
            guard let e = params.entry(name), let mask = masks[name] else { continue }
            for k in 0..<buffers {
                let base = k * count + e.offset
                for i in 0..<e.count where mask[i] != 0 { state[base + i] = 0 }
            }
        }
    }
}
