import Foundation
import LLMOptCore

extension Builtins {
    /// Gradual pruning's arguments of `train`.
    static let pruningParameters: [Builtin.Parameter] = [
        .init("prune", .absent, "\"magnitude\": prune while training (the smallest |w| of each matrix, on a schedule; pruned weights stay exactly 0)"),
        .init("sparsity", .value(.number(0.5)), "final sparsity of the pruned matrices"),
        .init("prune_schedule", .value(.string("cubic")), "\"cubic\" (Zhu & Gupta), \"linear\" or \"oneshot\""),
        .init("prune_start", .value(.number(0)), "first pruning step (0: before the first update)"),
        .init("prune_end", .absent, "step at which the final sparsity is reached (default: 3/4 of the steps)"),
        .init("prune_every", .absent, "steps between mask updates (default: a tenth of the pruning span)"),
        .init("pattern", .absent, "N:M semi-structured sparsity, e.g. \"2:4\", applied at prune_start and held"),
        .init("prune_scope", .value(.string("layer")), "\"layer\" (every matrix to the sparsity) or \"global\" (one threshold)"),
    ]

    /// The gradual-pruning options `args` ask for, or nil without `prune`.
    static func pruningOptions(_ args: Arguments) throws -> GradualPruningOptions? {
        guard let method = try args.optionalString("prune") else { return nil }
        guard method == "magnitude" else { throw ScriptError("train: prune must be \"magnitude\" (pruning while training), got \"\(method)\"") }
        var p = GradualPruningOptions(sparsity: try args.number("sparsity"))
        let schedule = try args.string("prune_schedule")
        guard let s = PruneSchedule(rawValue: schedule) else {
            throw ScriptError("train: prune_schedule must be \"cubic\", \"linear\" or \"oneshot\", got \"\(schedule)\"")
        }
        p.schedule = s
        let scope = try args.string("prune_scope")
        guard let sc = PruneScope(rawValue: scope) else { throw ScriptError("train: prune_scope must be \"layer\" or \"global\", got \"\(scope)\"") }
        p.scope = sc
        p.start = try args.int("prune_start")
        p.end = try args.optionalInt("prune_end")
        p.every = try args.optionalInt("prune_every")
        if let pattern = try args.optionalString("pattern") { p.pattern = try NMPattern(pattern) }
        return p
    }

    /// Compression that trains: quantization-aware training and distillation (gradual pruning is `train`'s `prune`).
    static let compressionTraining: [Builtin] = [
        Builtin("qat", family: "training",
                parameters: [
                    .init("model", "the model to train (left as it is)"),
                    .init("text", "the training text"),
                    .init("scheme", .value(.string("int4")), "int2..int8 or rtn, q4_0, q4_1, q8_0: the grid `quantize` would use"),
                    .init("group", .value(.number(32)), "values per scale along each row; 0: per output channel; -1: per tensor"),
                    .init("symmetric", .value(.bool(true)), "symmetric grid (no zero point) or asymmetric"),
                    .init("full_range", .value(.bool(false)), "symmetric grids: all 2^bits codes"),
                    .init("learn_scales", .value(.bool(false)), "train each group's scale too (LSQ), starting from quantize's; symmetric integer grids"),
                    .init("targets", .absent, "regular expressions: fake-quantize only matching tensors (default: linear layers)"),
                    .init("ignore", .absent, "regular expressions: leave these tensors in float"),
                    .init("overrides", .absent, "a record from name pattern to scheme, checked first, e.g. [\"down_proj\": \"int8\"]"),
                ] + trainingParameters,
                summary: """
                Quantization-aware training: trains a copy of the model whose forward pass sees every selected weight \
                quantized, then converts it to the real quantized format (the tensors `quantize` makes: as small and fast, \
                and exported the same way). Returns train's report; .model is the quantized model.
                """,
                math: """
                Forward: y = x · Q(W)ᵀ with Q the grid of `quantize` (per group: scale = max|w|/qmax, q = clamp(round(w/scale)), Q(w) = q·scale).
                Backward (straight-through estimator): ∂L/∂W = ∂L/∂Q(W), Q treated as the identity.
                The optimizer updates the float32 master W; at the end the model is quantize(W_trained), whose values are
                exactly the Q(W) the last forward pass used.
                learn_scales (LSQ, Esser et al. 2019): each group's scale s is trained too. With v = w/s and codes −Qn..Qp,
                  ∂Q/∂s = round(v) − v inside the grid, −Qn below it, Qp above it; ∂Q/∂w = 1 inside, 0 outside;
                  ∂L/∂s is scaled by g = 1/√(N·Qp), N the weights sharing s. The scales start at quantize's, have their own
                  optimizer (the run's kind, betas and schedule, no decay, not clipped), and the result uses them.
                """,
                example: """
                let m = load("Tests/Fixtures/models/tiny-llama")
                let r = qat(m, text("Tests/Fixtures/text/eval_gpl3.txt"), scheme: "int4", group: 32, steps: 4, batch: 2, seq: 32, lr: 1e-3)
                r.model        # int4 g32, trained through its own rounding
                """) { args in
            let model = try args.model("model")
            var options = QuantizationOptions(group: try args.int("group"), symmetric: try args.bool("symmetric"), fullRange: try args.bool("full_range"))
            let selection = try selection(args)
            options.targets = selection.targets
            options.ignore = selection.ignore
            if args.has("overrides") {
                guard case .record(let r) = args.value("overrides") else { throw ScriptError("qat: overrides must be a record of pattern: scheme") }
                options.overrides = r.pairs.map { SchemeOverride($0.0, Display.plain($0.1)) }
            }
            var compression = TrainingCompression()
            compression.qat = (try args.string("scheme"), options)
            compression.learnScales = try args.bool("learn_scales")
            return try runTraining(args, function: "qat", model: model, compression: compression)
        },
        Builtin("distill", family: "training",
                parameters: [
                    .init("teacher", "the model to learn from (not trained)"),
                    .init("student", "the model to train, with the teacher's vocabulary (e.g. prune(teacher, \"layers\", sparsity: 0.5))"),
                    .init("text", "the training text"),
                    .init("temperature", .value(.number(2)), "T: both distributions softened as softmax(logits / T)"),
                    .init("alpha", .value(.number(0.5)), "weight of the label cross-entropy; 1 − alpha goes to the divergence"),
                    .init("kd_loss", .value(.string("forward")), "\"forward\": KL(teacher‖student), \"reverse\": KL(student‖teacher)"),
                    .init("top_k", .absent, "keep only the teacher's k largest logits per position, computed for all batches before training"),
                ] + trainingParameters + pruningParameters,
                summary: """
                Knowledge distillation: trains a copy of the student to match the teacher's softened next-token \
                distribution as well as the labels. Returns train's report plus .ce and .kl (the last step's parts); \
                .model is the trained student. Evaluation losses (eval:) are plain cross-entropy.
                """,
                math: """
                p_t = softmax(z_teacher / T), p_s = softmax(z_student / T), per predicted position:
                  loss = alpha · CE(z_student, label) + (1 − alpha) · T² · KL(p_t ‖ p_s)       (forward)
                  KL(p_t ‖ p_s) = Σ_v p_t[v] (log p_t[v] − log p_s[v])   (reverse: KL(p_s ‖ p_t))
                ∂loss/∂z_student = alpha·(softmax(z) − onehot) + (1 − alpha)·T·(p_s − p_t)
                T² keeps the divergence's gradient on the scale of the CE's as T grows (Hinton et al. 2015).
                """,
                example: """
                let t = load("Tests/Fixtures/models/tiny-llama")
                let s = prune(t, "layers", sparsity: 0.5)
                let r = distill(t, s, text("Tests/Fixtures/text/eval_gpl3.txt"), temperature: 2, alpha: 0.5, steps: 4, batch: 2, seq: 32)
                r.kl
                """) { args in
            let teacher = try args.model("teacher"), student = try args.model("student")
            var compression = TrainingCompression()
            compression.teacher = teacher
            let kd = try args.string("kd_loss")
            guard let divergence = DistillationDivergence(rawValue: kd) else { throw ScriptError("distill: kd_loss must be \"forward\" or \"reverse\", got \"\(kd)\"") }
            compression.distillation = DistillationOptions(temperature: try args.number("temperature"), alpha: try args.number("alpha"),
                                                           divergence: divergence, topK: try args.optionalInt("top_k"))
            compression.pruning = try pruningOptions(args)
            return try runTraining(args, function: "distill", model: student, compression: compression)
        },
    ]
}
