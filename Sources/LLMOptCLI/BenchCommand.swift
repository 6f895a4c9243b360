import ArgumentParser
import Foundation
import LLMOptCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Prefill and decode tokens/s of a model on this machine.",
        discussion: """
        Prefill: one forward pass over --prompt-tokens tokens. Decode: --decode-tokens single-token \
        steps after that prompt, with the KV cache. Each is the best of --runs runs (the least disturbed \
        by other work on the machine). --dtype converts the weights first, so one file can be measured \
        as float32, float16 or a ggml block format; --random gpt2-small benchmarks a GPT-2-small-shaped \
        model with random weights instead of a file.
        """)

    @Argument(help: "A model file or folder (omit with --random).")
    var model: String?

    @Option(help: "The tokenizer of a llama2.c model.")
    var tokenizer: String?

    @Option(help: "A random-weight model instead of a file: gpt2-small.")
    var random: String?

    @Option(help: "Convert every matrix first: f32, f16, bf16, q8_0, q4_0 or q4_1 (norms stay f32).")
    var dtype: String?

    @Option(name: .customLong("prompt-tokens"), help: "Tokens in the prefill.")
    var promptTokens = 128

    @Option(name: .customLong("decode-tokens"), help: "Decode steps after the prompt.")
    var decodeTokens = 32

    @Option(help: "Runs; the best of each phase is kept.")
    var runs = 3

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        guard (model == nil) != (random == nil) else { throw ValidationError("give a model path or --random gpt2-small (one of them)") }
        guard promptTokens > 0, decodeTokens > 0, runs > 0 else { throw ValidationError("--prompt-tokens, --decode-tokens and --runs must be positive") }
    }

    func run() throws {
        try reportingErrors {
            var m: Model
            if let random {
                guard random == "gpt2-small" else {
                    throw LLMOptError.invalidArgument(name: "--random", reason: "unknown shape '\(random)'; known: gpt2-small")
                }
                m = RandomModel.make(RandomModel.gpt2Small)
            } else {
                m = try ModelLoader.load(path: model!, tokenizerPath: tokenizer)
            }
            if let dtype {
                guard let target = DType(rawValue: dtype.lowercased()) else {
                    throw LLMOptError.invalidArgument(name: "--dtype", reason: "unknown dtype '\(dtype)'")
                }
                m = try WeightConversion.convert(m, to: target)
            }
            let r = try Throughput.measure(model: m, promptTokens: promptTokens, decodeTokens: decodeTokens, runs: runs)
            if json {
                var object = Terminal.json(r)
                object["model"] = model ?? "random:\(random!)"
                object["dtype"] = dtype ?? "as stored"
                object["kernels"] = Kernels.activeISA
                Terminal.printJSON(object)
            } else {
                print(r.description)
            }
        }
    }
}
