import Foundation

/// Everything that decides a training run (the CLI's flags, the language's arguments).
public struct TrainingOptions: Sendable, Codable, Equatable {
    public var steps: Int
    /// The global batch: rows of `seq` tokens per optimizer step (split into `accumulate` micro-batches).
    public var batch: Int
    public var seq: Int
    public var lr: Double
    public var warmup: Int = 0
    public var schedule: ScheduleKind = .cosine
    public var minLR: Double = 0
    public var weightDecay: Double = 0.1
    /// Global-norm clipping threshold; nil or 0: no clipping.
    public var clip: Double? = 1
    public var optimizer: OptimizerKind = .adamw
    public var momentum: Double = 0
    public var beta1: Double = 0.9
    public var beta2: Double = 0.95
    public var eps: Double = 1e-8
    public var accumulate: Int = 1
    public var precision: TrainingPrecision = .fp32
    /// Activation checkpointing (see `TrainingGraph.recomputeActivations`).
    public var recomputeActivations = false
    public var order: DataOrder = .sequential
    public var seed: UInt64 = 0
    /// fp16: the initial loss scale, and how many overflow-free steps double it.
    public var initialLossScale: Double = 65536
    public var lossScaleGrowthInterval: Int = 200

    public init(steps: Int, batch: Int, seq: Int, lr: Double) {
        self.steps = steps
        self.batch = batch
        self.seq = seq
        self.lr = lr
    }

    /// Throws an error naming the first argument that cannot work.
    public func validate() throws {
        func bad(_ name: String, _ reason: String) -> LLMOptError { .invalidArgument(name: name, reason: reason) }
        guard steps > 0 else { throw bad("steps", "must be at least 1, got \(steps)") }
        guard batch > 0 else { throw bad("batch", "must be at least 1, got \(batch)") }
        guard seq >= 2 else { throw bad("seq", "must be at least 2 (one prediction per row needs two tokens), got \(seq)") }
        guard lr.isFinite, lr >= 0 else { throw bad("lr", "must be a non-negative number, got \(lr)") }
        guard minLR.isFinite, minLR >= 0 else { throw bad("min-lr", "must be a non-negative number, got \(minLR)") }
        guard warmup >= 0 else { throw bad("warmup", "must be 0 or more, got \(warmup)") }
        guard weightDecay.isFinite, weightDecay >= 0 else { throw bad("weight-decay", "must be 0 or more, got \(weightDecay)") }
        if let clip { guard clip.isFinite, clip >= 0 else { throw bad("clip", "must be 0 (off) or more, got \(clip)") } }
        guard accumulate > 0, batch % accumulate == 0 else {
            throw bad("accumulate", "must divide the batch (\(batch) rows) into equal micro-batches, got \(accumulate)")
        }
        guard (0..<1).contains(momentum) else { throw bad("momentum", "must be in [0, 1), got \(momentum)") }
    }

    var schedulePlan: LearningRateSchedule {
        LearningRateSchedule(kind: schedule, peak: lr, minLR: minLR, warmup: warmup, totalSteps: steps)
    }
}

/// Which windows of the token stream each step trains on.
public enum DataOrder: String, Sendable, Codable, CaseIterable {
    /// Step s takes ids[(s−1)·B·T ..< s·B·T] as B rows of T (wrapping to the start at the end).
    case sequential
    /// Each row starts at a position drawn from (seed, step, row): reproducible, resumable.
    case shuffled
}

/// One optimizer step's record.
public struct TrainingStepLog: Sendable, Codable, Equatable {
    public var step: Int
    public var lr: Double
    /// Loss before the update (mean over the global batch).
    public var loss: Double
    /// Global gradient norm before clipping (of the unscaled gradients).
    public var gradNorm: Double
    public var tokensPerSecond: Double
    /// Seconds this step took.
    public var seconds: Double
    /// Evaluation loss when this step ran an evaluation.
    public var evalLoss: Double?
    /// fp16 only: the loss scale used, and whether the step was skipped for an overflow.
    public var lossScale: Double?
    public var skipped: Bool?

    enum CodingKeys: String, CodingKey {
        case step, lr, loss, gradNorm = "grad_norm", tokensPerSecond = "tokens_per_s", seconds, evalLoss = "eval_loss",
             lossScale = "loss_scale", skipped
    }
}

/// The token stream of a training text, and the batches a step trains on.
public struct TrainingData: Sendable {
    public let ids: [Int]

    public init(ids: [Int]) { self.ids = ids }

    /// The text tokenized once, as the testdata protocol does: BOS in front of the whole text
    /// when the tokenizer adds one by default (Llama), nothing for GPT-2.
    public init(text: String, tokenizer: any Tokenizer) {
        ids = tokenizer.encode(text, addBOS: tokenizer.addsBOSByDefault)
    }

    /// The B·T ids of step `s` (1-based), row-major.
    public func batch(step s: Int, rows B: Int, seq T: Int, order: DataOrder, seed: UInt64) throws -> [Int] {
        let window = B * T
        guard ids.count >= T, order == .shuffled || ids.count >= window else {
            throw LLMOptError.invalidArgument(name: "text", reason: "\(ids.count) tokens; one batch needs \(order == .shuffled ? T : window) (\(B) rows of \(T))")
        }
        switch order {
        case .sequential:
            let windows = ids.count / window
            let start = ((s - 1) % windows) * window
            return Array(ids[start..<(start + window)])
        case .shuffled:
            var out: [Int] = []
            out.reserveCapacity(window)
            let span = UInt64(ids.count - T + 1)
            for b in 0..<B {
                var h = SplitMix64(seed: seed &+ UInt64(s) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(b) &* 0xBF58_476D_1CE4_E5B9)
                let start = Int(h.next() % span)
                out += ids[start..<(start + T)]
            }
            return out
        }
    }
}

/// The training loop: per step, set the learning rate, zero the gradients, run the micro-batches
/// (each loss scaled by its share of the batch so their gradients add up to the big batch's;
/// under mpirun, this rank's rows, then summed over the ranks), clip, update.
public final class Trainer: @unchecked Sendable {
    public let graph: TrainingGraph
    public let optimizer: Optimizer
    public let options: TrainingOptions
    public let data: TrainingData
    public let evalData: TrainingData?
    /// The ranks sharing each step's batch (Distributed/DataParallel.swift); one process alone by default.
    public var communicator: Communicator = .world
    public var evalEvery = 0
    /// Steps done so far (the next step is `completedSteps + 1`).
    public private(set) var completedSteps = 0
    public private(set) var log: [TrainingStepLog] = []
    /// fp16's dynamic loss scale and its run of overflow-free steps.
    public private(set) var lossScale: Double
    public private(set) var goodSteps = 0
    /// Techniques that act around each update (gradual pruning's masks).
    public var hooks: [any TrainingHook] = []

    public init(model: Model, data: TrainingData, options: TrainingOptions, evalData: TrainingData? = nil) throws {
        try options.validate()
        graph = try TrainingGraph(model: model)
        graph.autocast = options.precision
        graph.recomputeActivations = options.recomputeActivations
        self.options = options
        self.data = data
        self.evalData = evalData
        optimizer = Optimizer(options.optimizer, parameterCount: graph.parameters.count, weightDecay: options.weightDecay)
        optimizer.beta1 = options.beta1
        optimizer.beta2 = options.beta2
        optimizer.eps = options.eps
        optimizer.momentum = options.momentum
        lossScale = options.precision == .fp16 ? options.initialLossScale : 1
        // Fail before the first step when the text is too short.
        _ = try data.batch(step: 1, rows: options.batch, seq: options.seq, order: options.order, seed: options.seed)
    }

    /// Runs one optimizer step (the next one) and returns its log entry.
    @discardableResult
    public func step() throws -> TrainingStepLog {
        let s = completedSteps + 1
        let o = options
        let start = DispatchTime.now().uptimeNanoseconds
        let lr = o.schedulePlan.lr(step: s)
        let ids = try data.batch(step: s, rows: o.batch, seq: o.seq, order: o.order, seed: o.seed)
        let params = graph.parameters
        params.zeroGradients()
        let scale = Float(lossScale)
        let loss = try accumulateGradients(ids: ids)
        var skipped: Bool?
        var usedScale: Double?
        if o.precision == .fp16 {
            usedScale = lossScale
            if lossScale != 1 { params.scaleGradients(1 / scale) }
            let norm = params.globalGradientNorm()
            if !norm.isFinite {
                // Overflow: skip the update, halve the scale, start counting good steps again.
                lossScale = max(1, lossScale / 2)
                goodSteps = 0
                skipped = true
                completedSteps = s
                let entry = finish(step: s, lr: lr, loss: loss, norm: norm, start: start, skipped: true, scale: usedScale)
                return entry
            }
            goodSteps += 1
            if goodSteps >= o.lossScaleGrowthInterval { lossScale *= 2; goodSteps = 0 }
            skipped = false
        }
        for hook in hooks { try hook.beforeUpdate(step: s, trainer: self) }
        let (norm, _) = clipGradients(params, maxNorm: o.clip)
        optimizer.step(params, lr: lr)
        completedSteps = s
        for hook in hooks { try hook.afterUpdate(step: s, trainer: self) }
        return finish(step: s, lr: lr, loss: loss, norm: norm, start: start, skipped: skipped, scale: usedScale)
    }

    private func finish(step s: Int, lr: Double, loss: Double, norm: Double, start: UInt64, skipped: Bool?, scale: Double?) -> TrainingStepLog {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        var entry = TrainingStepLog(step: s, lr: lr, loss: loss, gradNorm: norm,
                                    tokensPerSecond: Double(options.batch * options.seq) / max(seconds, 1e-9), seconds: seconds,
                                    lossScale: scale, skipped: skipped)
        if evalEvery > 0, s % evalEvery == 0 || s == options.steps, evalData != nil {
            entry.evalLoss = try? evaluate()
        }
        log.append(entry)
        return entry
    }

    /// Mean next-token loss on the evaluation text: consecutive windows of `seq` tokens
    /// (up to 16 rows), no gradient.
    public func evaluate() throws -> Double? {
        guard let evalData else { return nil }
        return try meanLoss(evalData.ids, seq: options.seq, maxRows: 16)
    }

    /// Mean next-token loss of the current parameters over consecutive windows of `ids`.
    public func meanLoss(_ ids: [Int], seq T: Int, maxRows: Int) throws -> Double {
        let rows = min(maxRows, ids.count / T)
        guard rows > 0 else { throw LLMOptError.invalidArgument(name: "eval", reason: "\(ids.count) tokens; one window needs \(T)") }
        var total = 0.0
        for r in 0..<rows {
            total += try graph.run(ids: Array(ids[(r * T)..<((r + 1) * T)]), batch: 1, seq: T, backward: false)
        }
        return total / Double(rows)
    }

    /// Runs steps until `options.steps` (or `isCancelled` says stop, checked between steps).
    public func run(isCancelled: () -> Bool = { false }, onStep: (TrainingStepLog) -> Void = { _ in }) throws {
        while completedSteps < options.steps {
            if isCancelled() { break }
            onStep(try step())
        }
    }

    /// Tokens per second over the steps run in this process excluding the first step of the run
    /// (which pays for first-touch allocations); the first step's rate when it is the only one.
    public var tokensPerSecond: Double {
        let timed = log.filter { $0.seconds > 0 }
        let rest = timed.count > 1 ? Array(timed.dropFirst()) : timed
        let secs = rest.reduce(0) { $0 + $1.seconds }
        return secs > 0 ? Double(rest.count * options.batch * options.seq) / secs : 0
    }

    /// The trained model: `base` with every parameter replaced by its float32 master value.
    public func trainedModel(from base: Model) -> Model { graph.parameters.write(into: base) }

    // Checkpoint support.
    func restore(completedSteps: Int, log: [TrainingStepLog], lossScale: Double, goodSteps: Int) {
        self.completedSteps = completedSteps
        self.log = log
        self.lossScale = lossScale
        self.goodSteps = goodSteps
    }
}
