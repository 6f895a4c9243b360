import LLMOptCore

extension Builtins {
    /// Running a model: text generation and chat.
    static let generation: [Builtin] = [
        Builtin("generate", family: "generation",
                parameters: [
                    .init("model", "the model"), .init("prompt", .value(.string("")), "text to continue"),
                    .init("steps", .value(.number(64)), "positions to fill, the prompt included (llama2.c's run.c rule; 0: the model's context)"),
                    .init("temperature", .value(.number(0)), "0 is greedy (argmax); higher is more random"),
                    .init("top_k", .value(.number(0)), "sample only among the k most likely tokens (0: all)"),
                    .init("top_p", .value(.number(1)), "sample only among the smallest set of tokens whose probability reaches p"),
                    .init("seed", .value(.number(42)), "random seed; the same seed gives the same text"),
                ],
                summary: "Continues a prompt with a KV cache: the prompt in one batched prefill, then one token per step, until `steps` positions, BOS or EOS. The report's fields: text, tokens, prompt_tokens, new_tokens, stop, prefill_seconds, decode_tokens_per_second.",
                math: """
                p_i = softmax(logits / T)_i; greedy when T = 0: next = argmax logits
                top-k keeps the k largest p_i; top-p keeps the fewest tokens with Σ p_i ≥ p; then renormalize and draw
                """,
                example: "let m = load(\"Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf\")\nprint(generate(m, \"Once upon a time\", steps: 40).text)") { args in
            let model = try args.model("model")
            _ = try requireTokenizer(model, "generate")
            let result = try Generator.generate(model, prompt: try args.string("prompt"), steps: try args.int("steps"), sampler: try sampler(args),
                                                isCancelled: args.interpreter.isCancelled)
            return .report(generationReport(result, title: "generate"))
        },
        Builtin("chat", family: "generation",
                parameters: [
                    .init("model", "a model with a chat template"), .init("message", "the user's message"),
                    .init("system", .absent, "a system message before it"),
                    .init("steps", .value(.number(128)), "most tokens in the reply"),
                    .init("temperature", .value(.number(0)), "0 is greedy"), .init("top_k", .value(.number(0)), "as in generate"),
                    .init("top_p", .value(.number(1)), "as in generate"), .init("seed", .value(.number(42)), "random seed"),
                ],
                summary: "Renders the message with the model's chat template and generates the assistant's reply, until the end-of-turn token.",
                example: "let m = load(\"Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf\")\nprint(chat(m, \"What is 2 + 2?\").text)") { args in
            let model = try args.model("model")
            var messages: [ChatMessage] = []
            if let system = try args.optionalString("system") { messages.append(.system(system)) }
            messages.append(.user(try args.string("message")))
            let result = try Generator.chat(model, messages: messages, steps: try args.int("steps"), sampler: try sampler(args),
                                            isCancelled: args.interpreter.isCancelled)
            return .report(generationReport(result, title: "chat"))
        },
    ]

    private static func sampler(_ args: Arguments) throws -> Sampler {
        let temperature = try args.number("temperature"), topP = try args.number("top_p")
        let topK = try args.int("top_k"), seed = try args.int("seed")
        guard temperature >= 0 else { throw ScriptError("\(args.builtin.name): temperature must not be negative") }
        guard topK >= 0 else { throw ScriptError("\(args.builtin.name): top_k must not be negative") }
        guard topP > 0, topP <= 1 else { throw ScriptError("\(args.builtin.name): top_p must be in (0, 1]") }
        guard seed >= 0 else { throw ScriptError("\(args.builtin.name): seed must not be negative") }
        return Sampler(temperature: Float(temperature), topK: topK, topP: Float(topP), seed: UInt64(seed))
    }

    private static func generationReport(_ r: GenerationResult, title: String) -> Report {
        var fields = Record()
        fields["text"] = .string(r.text)
        fields["tokens"] = .list(r.tokens.map { .number(Double($0)) })
        fields["prompt_tokens"] = .number(Double(r.promptTokenCount))
        fields["new_tokens"] = .number(Double(r.generatedTokens.count))
        fields["stop"] = .string(r.stopReason.rawValue)
        fields["prefill_seconds"] = .number(r.prefillSeconds)
        fields["decode_tokens_per_second"] = .number(r.decodeTokensPerSecond)
        return Report(title: title, fields: fields, lines: [
            r.text,
            "(\(r.promptTokenCount) prompt tokens, \(r.generatedTokens.count) generated, stop: \(r.stopReason.rawValue), decode \(format4(r.decodeTokensPerSecond)) tok/s)",
        ])
    }
}
