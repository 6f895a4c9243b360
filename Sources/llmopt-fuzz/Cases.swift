import Foundation
import LLMOptCore
import LLMOptScript

/// One case: the files of one mutated input in a folder, and how to exercise them. The same
/// code replays a saved finding.
enum Case {
    /// Loads what `folder` holds for `target` and uses it the way a user would: a forward pass
    /// over two tokens, tokenizing and decoding, a script run. Errors are expected; crashes,
    /// hangs and runaway allocations are what the fuzzer looks for.
    static func exercise(target: String, folder: String, isCancelled: @escaping () -> Bool) {
        switch target {
        case "gguf": model(folder + "/model.gguf")
        case "safetensors", "config": model(folder + "/hf")
        case "llama2c": model(folder + "/llama2c/model.bin")
        case "tokenizer":
            guard let t = try? ModelLoader.loadTokenizer(path: folder + "/tokenizer.json", vocabSize: 100_000) else { return }
            use(t)
        case "script":
            guard let text = try? String(contentsOfFile: folder + "/case.llmopt", encoding: .utf8) else { return }
            script(text, isCancelled: isCancelled)
        default: break
        }
    }

    static func model(_ path: String) {
        guard let m = try? ModelLoader.load(path: path) else { return }
        _ = m.parameterCount
        _ = ModelSummary(m).description
        if let t = m.tokenizer { use(t) }
        guard let session = try? InferenceSession(model: m, capacity: 4) else { return }
        let vocab = session.vocabSize
        guard vocab > 0 else { return }
        _ = try? session.forward([0, min(1, vocab - 1)])
    }

    static func use(_ t: any Tokenizer) {
        let ids = t.encode("Hello world, <s> é 😀 \u{0} <0x41>")
        _ = t.decode(ids)
        _ = t.decode([0, 1, 2, 3, 1_000_000, -1])
    }

    /// Scripts run from the package root with `save` replaced by a no-op (a mutated script
    /// must not write over files) and stop at the deadline through `isCancelled`.
    static let prelude = "fn save(model, path) { nil }\n"

    static func script(_ text: String, isCancelled: @escaping () -> Bool) {
        final class Discard: OutputSink {
            func beginStatement(_ statement: Stmt) {}
            func write(_ text: String) { _ = text.count }
            func show(_ value: Value) { _ = Display.rich(value).count }
        }
        let interpreter = Interpreter(output: Discard())
        interpreter.isCancelled = isCancelled
        do {
            try interpreter.run(SourceFile(name: "fuzz.llmopt", text: prelude + text))
        } catch let e as SyntaxErrors {
            _ = DiagnosticRenderer.render(e.diagnostics)
        } catch let d as Diagnostic {
            _ = DiagnosticRenderer.render(d)
        } catch {
            _ = "\(error)"
        }
    }
}

/// `--replay DIR`: runs one saved finding (the folder holds `target` and the case's files).
enum Replay {
    static func run(folder: String) -> Int32 {
        guard let target = try? String(contentsOfFile: folder + "/target", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else {
            FileHandle.standardError.write(Data("llmopt-fuzz: \(folder)/target is missing\n".utf8))
            return 2
        }
        // A kept Hugging Face case may hold only the file that matters (config.json): the
        // others come from the fixture it was mutated from, in a copy outside Tests/.
        var run = folder
        if target == "config" || target == "safetensors" {
            run = NSTemporaryDirectory() + "llmopt-fuzz-replay-\(getpid())"
            try? FileManager.default.removeItem(atPath: run)
            try? FileManager.default.copyItem(atPath: folder, toPath: run)
            let seed = FileManager.default.currentDirectoryPath + "/Tests/Fixtures/models/tiny-llama/"
            for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
            where !FileManager.default.fileExists(atPath: run + "/hf/" + name) {
                try? FileManager.default.copyItem(atPath: seed + name, toPath: run + "/hf/" + name)
            }
        }
        defer { if run != folder { try? FileManager.default.removeItem(atPath: run) } }
        let deadline = Date().addingTimeInterval(10)
        Case.exercise(target: target, folder: run, isCancelled: { Date() > deadline })
        print("replayed \(target) case \(folder): no crash")
        return 0
    }
}
