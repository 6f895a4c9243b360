import Foundation
import LLMOptCore

extension Builtins {
    /// Training: fine-tuning with AdamW or SGD, schedules, clipping, accumulation, mixed precision.
    static let training: [Builtin] = [
        Builtin("train", family: "training",
                parameters: [
                    .init("model", "the model to train (left as it is: train returns a trained copy)"),
                    .init("text", "the training text (from text(...)) or a string; tokenized once"),
                ] + trainingParameters + pruningParameters,
                summary: """
                Trains a copy of the model on a text and returns a report: .model (the trained copy), .log (the loss curve \
                as a plot), .losses, .lrs, .grad_norms, .eval_losses, .tokens_per_s (excluding step 1), .seconds, \
                .peak_rss_bytes, .activation_bytes (activations and backward scratch), .state_bytes (weights, gradients, optimizer state), .final_loss, .steps, .interrupted. Ctrl-C stops after the current step and keeps what was trained. \
                With prune: "magnitude", the linear weights are pruned while training (gradual pruning) and the report \
                adds .sparsity, .sparsity_steps and .sparsities (after each pruning step). See also qat and distill.
                """,
                math: """
                Data: step s trains on ids[(s−1)·B·T ..< s·B·T] as B rows of T tokens (or B windows drawn from the seed).
                Loss: L = −(1/(B·(T−1))) Σ_b Σ_{t<T−1} log softmax(logits[b,t])[ids[b,t+1]]   (the last position predicts nothing)
                Gradients: reverse mode through every layer (llm.c-style forward/backward pairs), float32 master weights.
                Accumulation: K micro-batches of B/K rows; each adds ∇(L_k / K), so the sum is the big batch's gradient
                  (all rows have T−1 predictions) while only B/K rows of activations are held at once.
                Schedule: lr_s = peak·s/W for s ≤ W (warmup); then cosine: min + (peak−min)·½(1 + cos(π(s−W)/(N−W))),
                  linear: min + (peak−min)(1 − (s−W)/(N−W)), or constant.
                Clipping: n = sqrt(Σ_p ‖g_p‖²); every g ← g · min(1, clip/(n + 1e-6)).
                AdamW (β1 0.9, β2 0.95, ε 1e-8), per element, t = step count:
                  p ← p·(1 − lr·wd)  (2-D parameters only: matrices and embeddings, never norms or biases)
                  m ← β1·m + (1−β1)·g     v ← β2·v + (1−β2)·g²
                  p ← p − (lr/(1−β1^t)) · m / (sqrt(v)/sqrt(1−β2^t) + ε)
                SGD: g ← g + wd·p (2-D only); buf ← μ·buf + g (buf = g at first); p ← p − lr·buf.
                Activation checkpointing (recompute: true): the forward pass keeps each layer's input only; before
                  a layer's backward its forward runs again into buffers all layers share. Same gradients, bit for bit.
                Mixed precision: bf16/fp16 round every matmul's inputs, weights and outputs (float32 accumulation,
                  float32 master weights, norms/softmax/loss in float32). fp16 scales the loss by S before backward
                  and divides the gradients by S; an inf/NaN gradient skips the step and halves S; 200 good steps double S.
                Gradual pruning (Zhu & Gupta 2017), at steps t = t0, t0+Δt, ..., t0+n·Δt (after that step's update; 0: before training):
                  cubic: s_t = s_f + (s_0 − s_f)·(1 − (t − t0)/(n·Δt))³   linear: s_0 + (s_f − s_0)·(t − t0)/(n·Δt)   oneshot: s_f at t0
                  the round(s_t·n) smallest |w| of each matrix (scope "global": of all together) are masked; masked weights get
                  zero gradients (before clipping), their AdamW moments are cleared, and they stay exactly 0.
                """,
                example: """
                let m = load("Tests/Fixtures/models/tiny-llama")
                let r = train(m, text("Tests/Fixtures/text/eval_gpl3.txt"), steps: 10, batch: 2, seq: 32, lr: 2e-3, warmup: 2)
                r.log        # the loss curve
                r.final_loss < r.losses[0]
                let p = train(m, text("Tests/Fixtures/text/eval_gpl3.txt"), steps: 4, batch: 2, seq: 32, prune: "magnitude", sparsity: 0.5, prune_end: 3, prune_every: 1)
                p.sparsities  # 0 before training, rising on the cubic schedule to 0.5 at step 3
                """) { args in
            var compression = TrainingCompression()
            compression.pruning = try pruningOptions(args)
            return try runTraining(args, function: "train", model: try args.model("model"), compression: compression)
        },
    ]

    /// The arguments every training function takes after its model(s) and text.
    static let trainingParameters: [Builtin.Parameter] = [
                    .init("steps", .value(.number(100)), "optimizer steps"),
                    .init("batch", .value(.number(8)), "rows per step (the global batch)"),
                    .init("seq", .value(.number(128)), "tokens per row"),
                    .init("lr", .value(.number(1e-3)), "peak learning rate"),
                    .init("warmup", .value(.number(0)), "linear warmup steps"),
                    .init("schedule", .value(.string("cosine")), "\"cosine\", \"linear\" or \"constant\" after warmup"),
                    .init("min_lr", .value(.number(0)), "learning rate reached at the last step"),
                    .init("weight_decay", .value(.number(0.1)), "decay of 2-D parameters (decoupled for AdamW)"),
                    .init("clip", .value(.number(1)), "global gradient-norm threshold (0: off)"),
                    .init("optimizer", .value(.string("adamw")), "\"adamw\" or \"sgd\""),
                    .init("momentum", .value(.number(0)), "SGD momentum"),
                    .init("accumulate", .value(.number(1)), "micro-batches per step (divides batch)"),
                    .init("precision", .value(.string("fp32")), "\"fp32\", \"bf16\" (autocast) or \"fp16\" (autocast + dynamic loss scaling)"),
        .init("recompute", .value(.bool(false)), "activation checkpointing: keep layer inputs only, recompute the rest in the backward pass"),
                    .init("order", .value(.string("sequential")), "\"sequential\" or \"shuffled\""),
                    .init("seed", .value(.number(0)), "seed of the shuffled order"),
                    .init("eval", .absent, "a held-out text scored every eval_every steps (mean loss over up to 16 windows of seq)"),
                    .init("eval_every", .absent, "steps between evaluations (default: at the end only)"),
    ]

    /// Trains `model` on `args`' text with the training arguments and `compression`, and returns the report.
    static func runTraining(_ args: Arguments, function: String, model: Model, compression: TrainingCompression) throws -> Value {
        guard let tokenizer = model.tokenizer else { throw ScriptError("\(function): the model has no tokenizer to read the text with") }
        func choice<T: RawRepresentable & CaseIterable>(_ name: String, _: T.Type) throws -> T where T.RawValue == String {
            let s = try args.string(name)
            guard let v = T(rawValue: s) else {
                let known = T.allCases.map(\.rawValue)
                throw ScriptError("\(function): argument '\(name)' is '\(s)'\(suggestion(for: s, in: known)) (\(known.joined(separator: ", ")))")
            }
            return v
        }
        var o = TrainingOptions(steps: try args.int("steps"), batch: try args.int("batch"), seq: try args.int("seq"), lr: try args.number("lr"))
        o.warmup = try args.int("warmup")
        o.schedule = try choice("schedule", ScheduleKind.self)
        o.minLR = try args.number("min_lr")
        o.weightDecay = try args.number("weight_decay")
        let clip = try args.number("clip")
        o.clip = clip > 0 ? clip : nil
        o.optimizer = try choice("optimizer", OptimizerKind.self)
        o.momentum = try args.number("momentum")
        o.accumulate = try args.int("accumulate")
        o.precision = try choice("precision", TrainingPrecision.self)
        o.recomputeActivations = try args.bool("recompute")
        o.order = try choice("order", DataOrder.self)
        let seed = try args.int("seed")
        guard seed >= 0 else { throw ScriptError("\(function): argument 'seed' must be 0 or more, got \(seed)") }
        o.seed = UInt64(seed)
        let data = TrainingData(text: try args.text("text").content, tokenizer: tokenizer)
        let evalData = args.has("eval") ? TrainingData(text: try args.text("eval").content, tokenizer: tokenizer) : nil
        let trainer = try Trainer(model: model, data: data, options: o, evalData: evalData)
        if evalData != nil {
            let every = try args.optionalInt("eval_every") ?? o.steps
            guard every > 0 else { throw ScriptError("\(function): argument 'eval_every' must be at least 1, got \(every)") }
            trainer.evalEvery = every
        }
        let attached = try compression.attach(to: trainer, model: model)
        let started = Date()
        try trainer.run(isCancelled: args.interpreter.isCancelled) { e in
            guard let report = args.interpreter.progress else { return }
            let elapsed = Date().timeIntervalSince(started)
            let eta = elapsed / Double(e.step) * Double(o.steps - e.step)
            report(String(format: "\(function): step %d/%d  loss %.4f  %.0f tok/s  ETA %.0fs", e.step, o.steps, e.loss, e.tokensPerSecond, eta))
        }
        let (trained, notes) = try attached.finish(trainer.trainedModel(from: model))
        var r = report(trainer, model: model, seconds: Date().timeIntervalSince(started))
        r.fields["model"] = .model(trained)
        r.lines += notes
        if let pruner = attached.pruner {
            r.fields["sparsity"] = .number(pruner.sparsity)
            r.fields["sparsity_steps"] = .list(pruner.history.map { .number(Double($0.step)) })
            r.fields["sparsities"] = .list(pruner.history.map { .number($0.sparsity) })
        }
        if let kd = attached.distillation {
            r.fields["ce"] = .number(kd.lastCrossEntropy)
            r.fields["kl"] = .number(kd.lastDivergence)
        }
        return .report(r)
    }

    static func report(_ t: Trainer, model: Model, seconds: Double) -> Report {
        let log = t.log, o = t.options
        var f = Record()
        f["model"] = .model(t.trainedModel(from: model))
        var series = [Plot.Series(name: "train loss", x: log.map { Double($0.step) }, y: log.map(\.loss))]
        let evals = log.compactMap { e in e.evalLoss.map { (Double(e.step), $0) } }
        if !evals.isEmpty { series.append(Plot.Series(name: "eval loss", x: evals.map(\.0), y: evals.map(\.1))) }
        f["log"] = .plot(Plot(style: .line, series: series, title: "training loss", xLabel: "step", yLabel: "loss (nats)"))
        f["losses"] = .list(log.map { .number($0.loss) })
        f["lrs"] = .list(log.map { .number($0.lr) })
        f["grad_norms"] = .list(log.map { .number($0.gradNorm) })
        f["eval_losses"] = .list(evals.map { .number($0.1) })
        f["tokens_per_s"] = .number(t.tokensPerSecond)
        f["seconds"] = .number(seconds)
        f["peak_rss_bytes"] = .number(Double(peakRSS()))
        f["activation_bytes"] = .number(Double(t.graph.activationBytes))
        f["state_bytes"] = .number(Double(t.graph.parameters.count * 4 * (o.optimizer == .adamw ? 4 : (o.momentum > 0 ? 3 : 2))))
        f["final_loss"] = log.last.map { .number($0.loss) } ?? .null
        f["steps"] = .number(Double(t.completedSteps))
        f["interrupted"] = .bool(t.completedSteps < o.steps)
        if o.precision == .fp16 {
            f["skipped_steps"] = .number(Double(log.filter { $0.skipped == true }.count))
            f["loss_scale"] = .number(t.lossScale)
        }
        var lines = [String(format: "%@, %@ schedule, peak lr %g, batch %d × %d%@, %@: %.0f tokens/s, %.1f s",
                            o.optimizer.rawValue, o.schedule.rawValue, o.lr, o.batch, o.seq,
                            o.accumulate > 1 ? " (\(o.accumulate) micro-batches)" : "", o.precision.rawValue, t.tokensPerSecond, seconds)]
        if t.completedSteps < o.steps { lines.append("interrupted after step \(t.completedSteps) of \(o.steps); .model holds what was trained") }
        let shown = log.count <= 12 ? Array(log.indices) : Array(Set(stride(from: 0, to: log.count, by: max(1, log.count / 10)).map { $0 } + [log.count - 1])).sorted()
        let rows = shown.map { i -> [String] in
            let e = log[i]
            return [String(e.step), String(format: "%.3g", e.lr), String(format: "%.4f", e.loss), String(format: "%.3f", e.gradNorm),
                    e.evalLoss.map { String(format: "%.4f", $0) } ?? "-"]
        }
        let first = log.first?.loss ?? 0, last = log.last?.loss ?? 0
        return Report(title: String(format: "trained %d steps: loss %.4f → %.4f", t.completedSteps, first, last), fields: f, lines: lines,
                      table: Table(columns: ["step", "lr", "loss", "grad norm", "eval loss"], rows: rows))
    }

    /// Peak resident memory of this process (VmHWM), 0 where unavailable.
    static func peakRSS() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
        }
        return 0
    }
}
