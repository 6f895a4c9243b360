import ArgumentParser
import LLMOptCore

/// `llmopt train`'s flags for compression that trains: quantization-aware training,
/// distillation from a teacher, gradual magnitude pruning.
struct CompressionTrainingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Quantization-aware training: fake-quantize the linear weights with this scheme (int2...int8, rtn, q4_0, q4_1, q8_0) in every forward pass (straight-through gradients); --out gets the real quantized model.",
                               valueName: "scheme"))
    var qat: String?
    @Option(help: "QAT grid: -1 per tensor, 0 per output channel, n groups of n.") var group = 32
    @Option(help: "QAT grid: symmetric (true) or asymmetric (false).") var symmetric = true
    @Flag(name: .customLong("qat-learn-scales"),
          help: "QAT: train each group's scale too (LSQ, Esser et al. 2019), from the weights' ranges; symmetric integer grids (int2...int8).")
    var qatLearnScales = false

    @Option(help: "Distill from this model (same vocabulary): loss alpha·CE + (1−alpha)·T²·KL.") var teacher: String?
    @Option(help: "Distillation temperature T.") var temperature = 2.0
    @Option(help: "Weight of the label cross-entropy in the distillation loss.") var alpha = 0.5
    @Option(name: .customLong("kd-loss"), help: "forward (KL(teacher‖student)) or reverse (KL(student‖teacher)).") var kdLoss = "forward"
    @Option(name: .customLong("top-k"), help: "Distill from the teacher's k largest logits per position, computed for every batch before training.")
    var topK: Int?

    @Option(help: "Prune while training: magnitude.") var prune: String?
    @Option(help: "Final sparsity of the pruned matrices.") var sparsity = 0.5
    @Option(name: .customLong("prune-schedule"), help: "cubic (Zhu & Gupta), linear or oneshot.") var pruneSchedule = "cubic"
    @Option(name: .customLong("prune-start"), help: "First pruning step (0: before the first update).") var pruneStart = 0
    @Option(name: .customLong("prune-end"), help: "Step at which the final sparsity is reached (default: 3/4 of the steps).") var pruneEnd: Int?
    @Option(name: .customLong("prune-every"), help: "Steps between mask updates (default: a tenth of the pruning span).") var pruneEvery: Int?
    @Option(help: "N:M semi-structured sparsity (e.g. 2:4) instead of --sparsity, applied at --prune-start and held.") var pattern: String?
    @Option(name: .customLong("prune-scope"), help: "layer (each matrix to the sparsity) or global (one threshold).") var pruneScope = "layer"

    func compression() throws -> TrainingCompression {
        var c = TrainingCompression()
        if let qat {
            c.qat = (qat, QuantizationOptions(group: group, symmetric: symmetric))
        }
        c.learnScales = qatLearnScales
        if let teacher {
            guard let divergence = DistillationDivergence(rawValue: kdLoss) else {
                throw LLMOptError.invalidArgument(name: "kd-loss", reason: "'\(kdLoss)' is not forward or reverse")
            }
            c.distillation = DistillationOptions(temperature: temperature, alpha: alpha, divergence: divergence, topK: topK)
            try c.distillation.validate()
            c.teacher = try ModelLoader.load(path: teacher)
        }
        if let prune {
            guard prune == "magnitude" else { throw LLMOptError.invalidArgument(name: "prune", reason: "'\(prune)' is not a method pruning can use while training (magnitude)") }
            var p = GradualPruningOptions(sparsity: sparsity)
            guard let schedule = PruneSchedule(rawValue: pruneSchedule) else {
                throw LLMOptError.invalidArgument(name: "prune-schedule", reason: "'\(pruneSchedule)' is not one of cubic, linear, oneshot")
            }
            guard let scope = PruneScope(rawValue: pruneScope) else {
                throw LLMOptError.invalidArgument(name: "prune-scope", reason: "'\(pruneScope)' is not layer or global")
            }
            p.schedule = schedule
            p.scope = scope
            p.start = pruneStart
            p.end = pruneEnd
            p.every = pruneEvery
            p.pattern = try pattern.map { try NMPattern($0) }
            c.pruning = p
        }
        return c
    }
}
