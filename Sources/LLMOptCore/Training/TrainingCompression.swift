import Foundation

/// The compression techniques a training run can carry (each optional, any together): fake
/// quantization, a teacher to distill from, gradual pruning. The CLI and the language both set
/// up a run through this.
public struct TrainingCompression {
    /// QAT: the scheme and grid, as `quantize` takes them.
    public var qat: (scheme: String, options: QuantizationOptions)?
    /// QAT: train the scales too (LSQ, `LearnedStepSizes`); symmetric integer grids only.
    public var learnScales = false
    public var teacher: Model?
    public var distillation = DistillationOptions()
    public var pruning: GradualPruningOptions?

    public init() {}

    public var isEmpty: Bool { qat == nil && teacher == nil && pruning == nil }

    /// Installs the techniques on `trainer` (training `model`).
    public func attach(to trainer: Trainer, model: Model) throws -> AttachedCompression {
        var attached = AttachedCompression()
        if let qat {
            let fq = try FakeQuantizer(model: model, scheme: qat.scheme, options: qat.options)
            trainer.graph.fakeQuantizer = fq
            attached.fakeQuantizer = fq
            if learnScales {
                guard trainer.completedSteps == 0 else {
                    throw LLMOptError.invalidArgument(name: "resume", reason: "learned QAT scales are not kept in checkpoints: a resumed run would restart them from the weights' ranges")
                }
                trainer.hooks.append(try fq.learnScales(parameters: trainer.graph.parameters, training: trainer.options))
            }
        } else if learnScales {
            throw LLMOptError.invalidArgument(name: "qat-learn-scales", reason: "learned scales belong to quantization-aware training: give a QAT scheme")
        }
        if let teacher {
            let kd = try Distillation(teacher: teacher, student: trainer.graph, studentModel: model, options: distillation)
            trainer.graph.logitLoss = kd
            if distillation.topK != nil { try kd.cacheTopK(for: trainer) }
            attached.distillation = kd
        }
        if let pruning {
            attached.pruner = try GradualPruner(trainer: trainer, model: model, options: pruning)
        }
        return attached
    }
}

/// The techniques installed on one run, and what they do to its result.
public struct AttachedCompression {
    public var fakeQuantizer: FakeQuantizer?
    public var distillation: Distillation?
    public var pruner: GradualPruner?

    /// The trained model as the techniques leave it: QAT converts it to the real quantized
    /// format (the tensors `quantize` makes, whose values the forward pass trained with).
    public func finish(_ trained: Model) throws -> (model: Model, notes: [String]) {
        var model = trained, notes: [String] = []
        if let pruner {
            notes.append(String(format: "gradual %@ pruning: %d matrices at %.2f%% sparsity", pruner.options.pattern.map { "\($0)" } ?? pruner.options.schedule.rawValue,
                                pruner.names.count, pruner.sparsity * 100))
            model.metadata["llmopt.pruned"] = "gradual magnitude \(pruner.options.scope) \(pruner.options.pattern.map { "\($0)" } ?? String(pruner.options.sparsity))"
        }
        if let distillation {
            notes.append(String(format: "distilled at T %g, alpha %g (%@ KL%@)", distillation.options.temperature, distillation.options.alpha,
                                distillation.options.divergence.rawValue, distillation.options.topK.map { ", teacher top-\($0)" } ?? ""))
        }
        if let fakeQuantizer {
            let (quantized, report) = try fakeQuantizer.convert(model)
            model = quantized
            notes.append("quantization-aware: converted to \(report.scheme), \(report.rows.count) matrices, "
                         + "\(Format.bytes(report.modelBytesBefore)) → \(Format.bytes(report.modelBytesAfter))")
        }
        return (model, notes)
    }
}
