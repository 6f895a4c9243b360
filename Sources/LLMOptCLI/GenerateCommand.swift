import ArgumentParser
import Foundation
import LLMOptCore

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text, as llama2.c's run prints it, or chat with the model's template.",
        discussion: """
        Without --chat: prints the prompt and its continuation; --steps counts positions including the \
        prompt (as run.c does). With --chat: the prompt is the user's message, rendered with the model's \
        chat template; only the reply is printed, --steps bounds the new tokens, and generation stops at \
        the end of the turn. Temperature 0 is greedy (argmax).
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The prompt (or the user's message with --chat).")
    var prompt = ""

    @Flag(help: "Use the model's chat template and print only the assistant's reply.")
    var chat = false

    @Option(help: "Positions including the prompt (new tokens with --chat). 0: as many as the model holds.")
    var steps = 256

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(name: .customLong("top-k"), help: "Sample among the K most likely tokens (0: all).")
    var topK = 0

    @Option(name: .customLong("top-p"), help: "Sample among the most likely tokens whose probabilities sum to P.")
    var topP: Float = 1

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 42

    func validate() throws {
        guard temperature >= 0 else { throw ValidationError("--temperature must be >= 0, got \(temperature)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        guard steps >= 0 else { throw ValidationError("--steps must be >= 0, got \(steps)") }
    }

    func run() throws {
        try reportingErrors {
            let model = try modelOptions.load()
            let sampler = Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed)
            let out = FileHandle.standardOutput
            let result: GenerationResult
            if chat {
                result = try Generator.chat(model, messages: [.user(prompt)], steps: steps == 0 ? model.config.maxPositions : steps,
                                            sampler: sampler, onToken: { _, bytes in out.write(Data(bytes)) })
            } else {
                result = try Generator.generate(model, prompt: prompt, steps: steps, sampler: sampler, onToken: { _, bytes in
                    out.write(Data(bytes))
                })
            }
            print("")
            if Terminal.stderrIsTTY {
                Terminal.note(String(format: "%d tokens, %.1f tok/s decode", result.generatedTokens.count, result.decodeTokensPerSecond))
            }
        }
    }
}
