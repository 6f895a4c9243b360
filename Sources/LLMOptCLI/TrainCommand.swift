import ArgumentParser
import Dispatch
import Foundation
import LLMOptCore
#if canImport(Glibc)
import Glibc
#endif

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train (fine-tune) a model on a text: AdamW or SGD, schedules, clipping, accumulation, mixed precision, checkpoints.",
        discussion: """
        The text is tokenized once (BOS in front for Llama models). Step s trains on \
        ids[(s-1)·B·T ..< s·B·T] as B rows of T tokens (--order sequential; wraps at the end), or on \
        B windows drawn from (--seed, s) (--order shuffled). Loss = mean next-token cross-entropy over \
        the B·(T-1) predictions. Each step: lr from the schedule (linear warmup over --warmup steps, \
        then cosine or linear decay to --min-lr at the last step, or constant); gradients of the \
        --accumulate micro-batches of B/K rows summed (each loss times its share of the batch); global-norm clipping to \
        --clip; one optimizer update. AdamW decays 2-D parameters only (decoupled, lr·wd), betas \
        (0.9, 0.95), eps 1e-8.

        --precision bf16 rounds every matmul's inputs, weights and outputs to bfloat16 (float32 \
        master weights, as torch.autocast does); fp16 does the same in float16 with dynamic loss \
        scaling (an overflow skips the step and halves the scale; 200 good steps double it).

        --recompute-activations keeps only each layer's input in the forward pass and recomputes \
        the layer's activations just before its backward pass (activation checkpointing): the same \
        gradients, one layer's activations in memory instead of all of them, for about a third more \
        compute.

        Compression while training: --qat SCHEME trains through the quantizer (straight-through \
        estimator) and writes the real quantized model; --teacher MODEL distills (loss \
        alpha·CE + (1−alpha)·T²·KL); --prune magnitude --sparsity S masks the smallest weights on a \
        schedule (Zhu & Gupta's cubic by default) and keeps them exactly zero.

        --checkpoint DIR --every N writes parameters, optimizer state, step and data position to DIR \
        atomically; --resume DIR continues bit-identically. Ctrl-C stops after the current step and \
        still writes --out (and a checkpoint when --checkpoint is given).

        `mpirun -np N llmopt train ...` trains data-parallel: row r of each batch goes to rank r mod N, \
        the gradients are summed over the ranks in rank order, and every rank applies the update one \
        process would (same losses). Rank 0 alone prints and writes --out and checkpoints; a checkpoint \
        resumes with any N.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Compression while training") var compressionOptions: CompressionTrainingOptions

    @Argument(help: "A UTF-8 text file to train on.")
    var textFile: String

    @Option(help: "Where to write the trained model: a folder (Hugging Face safetensors) or a .gguf file.")
    var out: String?

    @Option(help: "Optimizer steps.") var steps = 100
    @Option(help: "Global batch: rows of --seq tokens per step.") var batch = 8
    @Option(help: "Tokens per row.") var seq = 128
    @Option(help: "Peak learning rate.") var lr = 1e-3
    @Option(help: "Linear warmup steps.") var warmup = 0
    @Option(help: "cosine, linear or constant (after warmup).") var schedule = "cosine"
    @Option(name: .customLong("min-lr"), help: "Learning rate at the last step (cosine, linear).") var minLR = 0.0
    @Option(name: .customLong("weight-decay"), help: "Decoupled weight decay of 2-D parameters (AdamW) or L2 (SGD).") var weightDecay = 0.1
    @Option(help: "Global gradient-norm clipping threshold (0: off).") var clip = 1.0
    @Option(help: "adamw or sgd.") var optimizer = "adamw"
    @Option(help: "SGD momentum.") var momentum = 0.0
    @Option(help: "Micro-batches per step (must divide --batch).") var accumulate = 1
    @Option(help: "fp32, bf16 or fp16.") var precision = "fp32"
    @Flag(name: .customLong("recompute-activations"), help: "Keep only layer inputs; recompute activations in the backward pass.")
    var recomputeActivations = false
    @Option(help: "sequential or shuffled.") var order = "sequential"
    @Option(help: "Seed of the shuffled order.") var seed: UInt64 = 0
    @Option(help: "A text scored (mean loss over up to 16 windows of --seq) every --eval-every steps.") var eval: String?
    @Option(name: .customLong("eval-every"), help: "Steps between evaluations (default: only at the end).") var evalEvery: Int?
    @Option(help: "Checkpoint folder, rewritten atomically every --every steps and at the end.") var checkpoint: String?
    @Option(help: "Steps between checkpoints.") var every = 100
    @Option(help: "A checkpoint folder to continue from.") var resume: String?
    @Flag(help: "Print one JSON object (log, tokens_per_s, peak_rss_bytes) instead of text.") var json = false

    func choice<T: RawRepresentable & CaseIterable>(_ value: String, _ name: String, as: T.Type) throws -> T where T.RawValue == String {
        guard let v = T(rawValue: value) else {
            throw LLMOptError.invalidArgument(name: name, reason: "'\(value)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    func options() throws -> TrainingOptions {
        var o = TrainingOptions(steps: steps, batch: batch, seq: seq, lr: lr)
        o.warmup = warmup
        o.schedule = try choice(schedule, "schedule", as: ScheduleKind.self)
        o.minLR = minLR
        o.weightDecay = weightDecay
        o.clip = clip > 0 ? clip : nil
        o.optimizer = try choice(optimizer, "optimizer", as: OptimizerKind.self)
        o.momentum = momentum
        o.accumulate = accumulate
        o.precision = try choice(precision, "precision", as: TrainingPrecision.self)
        o.recomputeActivations = recomputeActivations
        o.order = try choice(order, "order", as: DataOrder.self)
        o.seed = seed
        try o.validate()
        guard every > 0 else { throw LLMOptError.invalidArgument(name: "every", reason: "must be at least 1, got \(every)") }
        if let evalEvery, evalEvery <= 0 { throw LLMOptError.invalidArgument(name: "eval-every", reason: "must be at least 1, got \(evalEvery)") }
        return o
    }

    func run() throws {
        try reportingErrors {
            // Under mpirun every rank reads the model, texts and checkpoint; a failure on any rank stops all.
            let comm = Communicator.world
            let (o, model, trainer, compression) = try comm.agree { () throws -> (TrainingOptions, Model, Trainer, AttachedCompression) in
                let o = try options()
                let model = try modelOptions.load()
                guard let tokenizer = model.tokenizer else {
                    throw LLMOptError.invalidArgument(name: "model", reason: "\(modelOptions.model) has no tokenizer to read the text with")
                }
                let data = TrainingData(text: try readText(textFile), tokenizer: tokenizer)
                let evalData = try eval.map { TrainingData(text: try readText($0), tokenizer: tokenizer) }
                let trainer = try Trainer(model: model, data: data, options: o, evalData: evalData)
                if evalData != nil { trainer.evalEvery = evalEvery ?? o.steps }
                if let resume { try TrainingCheckpoint.restore(trainer, from: resume) }
                let compression = try compressionOptions.compression().attach(to: trainer, model: model)
                return (o, model, trainer, compression)
            }

            let stop = StopFlag.installSIGINT()
            let progress = Terminal.Progress("train")
            let started = Date()
            let firstStep = trainer.completedSteps
            let communicationBefore = comm.communicationSeconds
            try trainer.run(isCancelled: { (try? comm.any(stop.isSet)) ?? true }) { entry in
                let done = entry.step - firstStep, left = o.steps - entry.step
                let elapsed = Date().timeIntervalSince(started)
                let eta = done > 0 ? elapsed / Double(done) * Double(left) : 0
                progress.update(entry.step, of: o.steps,
                                detail: String(format: "loss %.4f  %.0f tok/s  ETA %.0fs", entry.loss, entry.tokensPerSecond, eta))
                if !json {
                    progress.finish()
                    print(Self.line(entry, steps: o.steps))
                }
                if let checkpoint, comm.isRoot, entry.step % every == 0 || entry.step == o.steps {
                    try? TrainingCheckpoint.save(trainer, to: checkpoint)
                }
            }
            progress.finish()
            let communication = DataParallelTiming(communicator: comm, seconds: Date().timeIntervalSince(started), before: communicationBefore)
            let interrupted = trainer.completedSteps < o.steps
            if interrupted {
                Terminal.note("interrupted: stopped after step \(trainer.completedSteps) of \(o.steps)")
                if let checkpoint, comm.isRoot { try TrainingCheckpoint.save(trainer, to: checkpoint) }
            }
            let (result, notes) = try compression.finish(trainer.trainedModel(from: model))
            if let out, comm.isRoot { try ModelSaver.save(result, to: out) }
            if json {
                let encoder = JSONEncoder()
                let log = (try? JSONSerialization.jsonObject(with: encoder.encode(trainer.log))) ?? []
                var object: [String: Any] = [
                    "log": log, "tokens_per_s": trainer.tokensPerSecond, "peak_rss_bytes": peakRSSBytes(),
                    "steps": trainer.completedSteps, "interrupted": interrupted, "parameters": trainer.graph.parameters.count,
                    "precision": o.precision.rawValue, "batch": o.batch, "seq": o.seq, "accumulate": o.accumulate,
                    "activation_bytes": trainer.graph.activationBytes, "recompute_activations": o.recomputeActivations,
                ]
                if let last = trainer.log.last { object["final_loss"] = last.loss }
                if let out { object["out"] = out }
                if !notes.isEmpty { object["compression"] = notes }
                if let pruner = compression.pruner { object["sparsity"] = pruner.sparsity }
                object.merge(communication.json) { $1 }
                Terminal.printJSON(object)
            } else {
                print(String(format: "%d steps, %.0f tokens/s (excluding step 1), peak RSS ", trainer.completedSteps, trainer.tokensPerSecond)
                      + Format.bytes(peakRSSBytes()) + communication.summary)
                for note in notes { print(note) }
                if let out { print("wrote \(out)") }
            }
            if interrupted { throw ExitCode(130) }
        }
    }

    static func line(_ e: TrainingStepLog, steps: Int) -> String {
        var s = String(format: "step %d/%d  lr %.3e  loss %.4f  grad_norm %.3f  %.0f tok/s", e.step, steps, e.lr, e.loss, e.gradNorm,
                       e.tokensPerSecond)
        if let ev = e.evalLoss { s += String(format: "  eval_loss %.4f", ev) }
        if let scale = e.lossScale { s += String(format: "  loss_scale %.0f%@", scale, e.skipped == true ? " (overflow: skipped)" : "") }
        return s
    }
}

/// Peak resident memory of this process (VmHWM of /proc/self/status), 0 where unavailable.
func peakRSSBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kb * 1024
    }
    return 0
}

/// A flag set by the first Ctrl-C (SIGINT): long loops stop at their next boundary. A second
/// Ctrl-C ends the process as usual.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    private var source: DispatchSourceSignal?

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }

    func set() { lock.lock(); value = true; lock.unlock() }

    static func installSIGINT() -> StopFlag {
        let flag = StopFlag()
        signal(SIGINT, SIG_IGN)
        let src = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue.global())
        src.setEventHandler {
            flag.set()
            Terminal.note("\nstopping after this step (Ctrl-C again to quit now)")
            signal(SIGINT, SIG_DFL)
        }
        src.resume()
        flag.source = src
        return flag
    }
}
