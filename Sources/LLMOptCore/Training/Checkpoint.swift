import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A training checkpoint: a folder holding
/// - `parameters.safetensors`: every float32 master weight under its model name;
/// - `optimizer.safetensors`: the optimizer state (`exp_avg.<name>`, `exp_avg_sq.<name>` for
///   AdamW, `momentum_buffer.<name>` for SGD with momentum);
/// - `trainer.json`: the step reached, the optimizer's step count, fp16's loss scale, the data
///   position, the options of the run, the parameter names and shapes, and the log so far.
/// The folder is written beside its destination under a temporary name and renamed into place,
/// so a crash leaves either the previous checkpoint or the new one, never half of one.
public enum TrainingCheckpoint {
    public static let format = "llmopt-training-checkpoint"
    public static let version = 1

    struct State: Codable {
        var format: String
        var version: Int
        var step: Int
        var optimizerSteps: Int
        var lossScale: Double
        var goodSteps: Int
        /// The first token of the next step's batch in the token stream (sequential order), for people reading the file.
        var nextToken: Int
        var options: TrainingOptions
        var parameters: [Parameter]
        var log: [TrainingStepLog]

        struct Parameter: Codable, Equatable {
            var name: String
            var shape: [Int]
        }

        enum CodingKeys: String, CodingKey {
            case format, version, step, optimizerSteps = "optimizer_steps", lossScale = "loss_scale", goodSteps = "good_steps",
                 nextToken = "next_token", options, parameters, log
        }
    }

    /// Writes `trainer`'s state to the folder `path` atomically (replacing an older checkpoint there).
    public static func save(_ trainer: Trainer, to path: String) throws {
        // Written beside the old checkpoint and swapped in by one exchange (SaveTarget's folder
        // rule): a kill at any moment leaves the old checkpoint or the new one, never neither.
        try SaveTarget.writeFolder(at: path) { folder in
            let params = trainer.graph.parameters, opt = trainer.optimizer
            var paramTensors: [(name: String, tensor: Tensor)] = []
            var stateTensors: [(name: String, tensor: Tensor)] = []
            for e in params.entries {
                paramTensors.append((e.name, Tensor(shape: e.shape, floats: params.values(e.name))))
                for s in opt.stateNames { stateTensors.append((s + "." + e.name, Tensor(shape: e.shape, floats: opt.stateTensor(s, for: e)))) }
            }
            try SafetensorsWriter.write(paramTensors, to: folder + "/parameters.safetensors")
            try SafetensorsWriter.write(stateTensors, to: folder + "/optimizer.safetensors")
            let o = trainer.options
            let state = State(format: format, version: version, step: trainer.completedSteps, optimizerSteps: opt.stepCount,
                              lossScale: trainer.lossScale, goodSteps: trainer.goodSteps,
                              nextToken: o.order == .sequential ? trainer.completedSteps * o.batch * o.seq % max(1, trainer.data.ids.count) : 0,
                              options: o, parameters: params.entries.map { .init(name: $0.name, shape: $0.shape) }, log: trainer.log)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(state).write(to: URL(fileURLWithPath: folder + "/trainer.json"))
        }
    }

    /// Restores `trainer` (built with the same model and options) from the checkpoint at `path`.
    /// Errors name the file and what does not match.
    public static func restore(_ trainer: Trainer, from path: String) throws {
        let jsonPath = path + "/trainer.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw LLMOptError.badFile(path: path, reason: "no checkpoint folder here")
        }
        guard let data = FileManager.default.contents(atPath: jsonPath) else {
            throw LLMOptError.badFile(path: jsonPath, reason: "missing: not a training checkpoint")
        }
        let state: State
        do {
            state = try JSONDecoder().decode(State.self, from: data)
        } catch {
            throw LLMOptError.badFile(path: jsonPath, reason: "not a readable checkpoint description (\(describe(error)))")
        }
        guard state.format == format else { throw LLMOptError.badFile(path: jsonPath, reason: "format is '\(state.format)', expected '\(format)'") }
        guard state.version == version else { throw LLMOptError.badFile(path: jsonPath, reason: "version \(state.version), this llmopt reads \(version)") }
        let params = trainer.graph.parameters, opt = trainer.optimizer
        let ours = params.entries.map { State.Parameter(name: $0.name, shape: $0.shape) }
        if state.parameters != ours {
            let mismatch = zip(state.parameters, ours).first { $0 != $1 }
            let detail = mismatch.map { "its '\($0.name)' \($0.shape) vs the model's '\($1.name)' \($1.shape)" }
                ?? "\(state.parameters.count) parameters vs the model's \(ours.count)"
            throw LLMOptError.badFile(path: jsonPath, reason: "checkpoint of a different model: \(detail)")
        }
        var mine = trainer.options, theirs = state.options
        mine.steps = 0
        theirs.steps = 0
        if mine != theirs {
            let a = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(theirs))) as? [String: Any] ?? [:]
            let b = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(mine))) as? [String: Any] ?? [:]
            let keys = Set(a.keys).union(b.keys).sorted().filter { "\(a[$0] ?? "none")" != "\(b[$0] ?? "none")" }
            let list = keys.map { "\($0): checkpoint \(a[$0] ?? "none"), now \(b[$0] ?? "none")" }.joined(separator: "; ")
            throw LLMOptError.badFile(path: jsonPath, reason: "written with other training options (\(list))")
        }
        guard state.step <= trainer.options.steps else {
            throw LLMOptError.badFile(path: jsonPath, reason: "already at step \(state.step), past --steps \(trainer.options.steps)")
        }
        let pfile = try SafetensorsFile(path: path + "/parameters.safetensors")
        let sfile = try SafetensorsFile(path: path + "/optimizer.safetensors")
        for e in params.entries {
            let t = try tensor(pfile, e.name, e)
            params.setValues(e.name, t.floats())
            for s in opt.stateNames {
                let st = try tensor(sfile, s + "." + e.name, e)
                st.f32Pointer.withMemoryRebound(to: Float.self, capacity: e.count) {
                    opt.setState(s, for: e, UnsafeBufferPointer(start: $0, count: e.count))
                }
            }
        }
        opt.restore(stepCount: state.optimizerSteps)
        trainer.restore(completedSteps: state.step, log: state.log, lossScale: state.lossScale, goodSteps: state.goodSteps)
    }

    private static func tensor(_ file: SafetensorsFile, _ name: String, _ e: ParameterSet.Entry) throws -> Tensor {
        guard let t = file.tensors[name] else { throw LLMOptError.missingTensor(name: name, source: file.path) }
        guard t.shape == e.shape, t.dtype == .f32 else {
            throw LLMOptError.badFile(path: file.path, reason: "tensor '\(name)' is \(t.dtype.rawValue) \(t.shape), expected f32 \(e.shape)")
        }
        return t
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "bad field '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let c): return c.debugDescription
        default: return "\(error)"
        }
    }
}
