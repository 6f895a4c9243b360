import Foundation

/// What one generation produced.
public struct GenerationResult: Sendable {
    /// Every token of the sequence: the prompt, then what was generated.
    public let tokens: [Int]
    public let promptTokenCount: Int
    /// The printed bytes: for `generate`, the prompt (without its BOS token) and then the
    /// generated tokens (as llama2.c prints them); for `chat`, the reply only.
    public internal(set) var bytes: [UInt8]
    public let stopReason: StopReason
    /// Seconds spent in the prompt's forward pass and in the decode steps.
    public let prefillSeconds: Double
    public let decodeSeconds: Double

    public enum StopReason: String, Sendable {
        case steps, endOfSequence, endOfTurn
    }

    public var generatedTokens: ArraySlice<Int> { tokens[promptTokenCount...] }
    /// `bytes` as text (invalid UTF-8 becomes U+FFFD).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
    public var decodeTokensPerSecond: Double {
        decodeSeconds > 0 ? Double(max(0, generatedTokens.count - 1)) / decodeSeconds : 0
    }
}

/// Autoregressive generation over an `InferenceSession`: the prompt in one batched prefill,
/// then one token per step.
public enum Generator {
    /// llama2.c's `run.c` generation: `steps` counts positions, the prompt included (0 or more
    /// than the model holds: as many as it holds). The prompt is encoded with the model's
    /// default BOS; generation stops at BOS or EOS. `onToken` gets each token after the first
    /// with the bytes printed for it. `isCancelled` is checked between layers and before each
    /// step; when it returns true, generation throws `LLMOptError.cancelled`.
    public static func generate(
        _ model: Model, prompt: String, steps: Int, sampler: Sampler = .greedy,
        isCancelled: @escaping () -> Bool = { false },
        onToken: ((_ id: Int, _ bytes: [UInt8]) -> Void)? = nil
    ) throws -> GenerationResult {
        let tokenizer = try requireTokenizer(model)
        var ids = tokenizer.encode(prompt)
        if ids.isEmpty, let bos = tokenizer.bosTokenId ?? model.config.bosTokenId { ids = [bos] }
        return try generate(model, promptTokens: ids, steps: steps, sampler: sampler, isCancelled: isCancelled, onToken: onToken)
    }

    /// `generate` from token ids.
    public static func generate(
        _ model: Model, promptTokens prompt: [Int], steps: Int, sampler: Sampler = .greedy,
        isCancelled: @escaping () -> Bool = { false },
        onToken: ((_ id: Int, _ bytes: [UInt8]) -> Void)? = nil
    ) throws -> GenerationResult {
        guard !prompt.isEmpty else {
            throw LLMOptError.invalidArgument(name: "prompt", reason: "no tokens to start from (the model has no BOS token)")
        }
        let limit = model.config.maxPositions
        let steps = steps <= 0 || steps > limit ? limit : steps
        var printed: [UInt8] = []
        let emit = { (id: Int, previous: Int?) in
            let piece = model.tokenizer?.decodeBytes(id, previous: previous) ?? []
            printed += piece
            onToken?(id, piece)
        }
        // The prompt's own tokens print first, as run.c feeds them one by one. run.c's prompts
        // start with BOS, which it never prints; a tokenizer that adds no BOS (SmolLM2's) starts
        // with a word, which is printed.
        let bos = model.tokenizer?.bosTokenId ?? model.config.bosTokenId
        if prompt[0] != bos, steps > 0 { emit(prompt[0], nil) }
        for i in 1..<min(prompt.count, steps + 1) { emit(prompt[i], prompt[i - 1]) }
        guard steps >= prompt.count else {
            let kept = Array(prompt.prefix(steps + 1))
            return GenerationResult(tokens: kept, promptTokenCount: kept.count, bytes: printed,
                                    stopReason: .steps, prefillSeconds: 0, decodeSeconds: 0)
        }
        let stops = Set([model.tokenizer?.bosTokenId ?? model.config.bosTokenId,
                         model.tokenizer?.eosTokenId ?? model.config.eosTokenId].compactMap { $0 })
        var result = try run(model, prompt: prompt, newTokens: steps - prompt.count + 1, capacity: steps,
                             stops: stops, stopReason: .endOfSequence, sampler: sampler, isCancelled: isCancelled, emit: emit)
        result.bytes = printed
        return result
    }

    /// Chat: renders `messages` with the model's chat template, then generates the assistant's
    /// reply: at most `steps` new tokens, ending at the end-of-turn token or EOS (neither printed).
    /// `isCancelled` as in `generate`.
    public static func chat(
        _ model: Model, messages: [ChatMessage], steps: Int, sampler: Sampler = .greedy,
        isCancelled: @escaping () -> Bool = { false },
        onToken: ((_ id: Int, _ bytes: [UInt8]) -> Void)? = nil
    ) throws -> GenerationResult {
        let tokenizer = try requireTokenizer(model)
        let template = try ChatTemplate(template: model.chatTemplate)
        guard steps > 0 else {
            throw LLMOptError.invalidArgument(name: "steps", reason: "must be positive, got \(steps)")
        }
        let prompt = tokenizer.encode(template.render(messages))
        var stops = Set(template.endOfTurnPieces.compactMap { tokenizer.tokenId($0) })
        if let eos = tokenizer.eosTokenId ?? model.config.eosTokenId { stops.insert(eos) }
        var printed: [UInt8] = []
        var result = try run(model, prompt: prompt, newTokens: steps, capacity: prompt.count + steps - 1,
                             stops: stops, stopReason: .endOfTurn, sampler: sampler, isCancelled: isCancelled) { id, previous in
            let piece = tokenizer.decodeBytes(id, previous: previous)
            printed += piece
            onToken?(id, piece)
        }
        result.bytes = printed
        return result
    }

    /// Prefills `prompt`, then samples up to `newTokens` tokens (the last one is not fed back),
    /// calling `emit(id, previous)` for each kept token; a token in `stops` ends generation unprinted.
    private static func run(
        _ model: Model, prompt: [Int], newTokens: Int, capacity: Int, stops: Set<Int>,
        stopReason: GenerationResult.StopReason, sampler: Sampler, isCancelled: @escaping () -> Bool,
        emit: (_ id: Int, _ previous: Int?) -> Void
    ) throws -> GenerationResult {
        var sampler = sampler
        let session = try InferenceSession(model: model, capacity: max(capacity, prompt.count))
        session.isCancelled = isCancelled
        var tokens = prompt
        let clock = ContinuousClock()
        let start = clock.now
        var logits = try session.forward(prompt)
        let prefillEnd = clock.now
        var reason = GenerationResult.StopReason.steps
        for i in 0..<newTokens {
            if isCancelled() { throw LLMOptError.cancelled }
            let next = sampler.sample(logits)
            if stops.contains(next) { reason = stopReason; break }
            emit(next, tokens[tokens.count - 1])
            tokens.append(next)
            if i + 1 < newTokens { logits = try session.forward([next]) }
        }
        let end = clock.now
        return GenerationResult(
            tokens: tokens, promptTokenCount: prompt.count, bytes: [], stopReason: reason,
            prefillSeconds: (prefillEnd - start).seconds, decodeSeconds: (end - prefillEnd).seconds)
    }

    private static func requireTokenizer(_ model: Model) throws -> any Tokenizer {
        guard let tokenizer = model.tokenizer else {
            throw LLMOptError.invalidArgument(name: "model", reason: "\(model.sourcePath ?? "the model") has no tokenizer; pass token ids")
        }
        return tokenizer
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
