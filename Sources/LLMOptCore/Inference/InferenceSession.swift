import Foundation

/// Which logits a forward pass returns.
public enum LogitsRequest: Sendable {
    /// Logits of the last token only: `vocabSize` floats.
    case last
    /// Logits of every token: `tokens.count × vocabSize` floats, row by row.
    case all
}

/// Runs a model over a growing sequence with a KV cache: batched prefill (each linear layer
/// sees all new tokens at once, a real GEMM) and one-token decode steps. Scratch activations
/// and the cache are allocated once, when the session is made.
public final class InferenceSession {
    public let model: Model
    /// Most positions the cache holds.
    public let capacity: Int
    /// Positions filled so far; the next token goes here.
    public private(set) var position: Int = 0
    /// Called with the input activations [rows, cols] of every linear layer, before it runs,
    /// with the layer's weight name (the LM head included, with the rows whose logits are asked for).
    /// Calibration for pruning and quantization (Wanda, SparseGPT, GPTQ, AWQ) listens here.
    public var linearInputObserver: ((_ weightName: String, _ x: UnsafePointer<Float>, _ rows: Int, _ cols: Int) -> Void)?
    /// Checked between layers; when it returns true, `forward` throws `LLMOptError.cancelled`.
    public var isCancelled: () -> Bool = { false }

    private let runner: any ModelRunner

    /// Tokens per batch in prefill: bounds the scratch memory of long prompts.
    static let maxBatch = 256

    public init(model: Model, capacity: Int) throws {
        guard capacity > 0 else {
            throw LLMOptError.invalidArgument(name: "capacity", reason: "must be positive, got \(capacity)")
        }
        // The KV cache is allocated up front: refuse one that cannot fit rather than fail inside
        // the allocator.
        let kvBytes = KVCache.bytes(model.config, capacity: capacity, maxBatch: min(capacity, Self.maxBatch))
        let memory = Double(ProcessInfo.processInfo.physicalMemory)
        guard kvBytes <= memory / 2 else {
            throw LLMOptError.invalidArgument(
                name: "capacity", reason: "\(capacity) positions need \(Format.bytes(Int(min(kvBytes, 1e18)))) of KV cache, more than half of this machine's memory (\(Format.bytes(Int(memory))))")
        }
        self.model = model
        self.capacity = capacity
        let batch = min(capacity, Self.maxBatch)
        guard let factory = model.config.architecture.family as? ForwardRunnerFactory else {
            throw LLMOptError.unsupported("\(model.config.architecture.family.displayName) has no forward pass")
        }
        runner = try factory.makeRunner(model: model, capacity: capacity, maxBatch: batch)
    }

    /// Bytes the KV cache holds (layers with a sliding window hold a bounded part of `capacity`).
    public var kvCacheBytes: Int { runner.cache.byteCount }

    /// Size of the logits vector of one token.
    public var vocabSize: Int { runner.vocabSize }

    /// Forgets every cached position.
    public func reset() { position = 0 }

    /// Appends `tokens` at the current position and returns their logits (see `LogitsRequest`).
    public func forward(_ tokens: [Int], logits request: LogitsRequest = .last) throws -> [Float] {
        guard !tokens.isEmpty else {
            throw LLMOptError.invalidArgument(name: "tokens", reason: "no tokens to run")
        }
        guard position + tokens.count <= capacity else {
            throw LLMOptError.invalidArgument(
                name: "tokens", reason: "\(tokens.count) tokens at position \(position) exceed the session's capacity of \(capacity)")
        }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= runner.embeddingRows }) {
            throw LLMOptError.invalidArgument(name: "tokens", reason: "token id \(bad) is outside the vocabulary (0..<\(runner.embeddingRows))")
        }
        let vocab = runner.vocabSize
        let hooks = ForwardHooks(linearInputObserver: linearInputObserver, isCancelled: isCancelled)
        let outputRows = request == .all ? tokens.count : 1
        var out = [Float](repeating: 0, count: outputRows * vocab)
        try out.withUnsafeMutableBufferPointer { buf in
            var start = 0
            while start < tokens.count {
                let end = min(tokens.count, start + runner.maxBatch)
                let chunk = tokens[start..<end]
                let rows: Int, dest: UnsafeMutablePointer<Float>
                switch request {
                case .all: (rows, dest) = (chunk.count, buf.baseAddress! + start * vocab)
                case .last: (rows, dest) = (end == tokens.count ? 1 : 0, buf.baseAddress!)
                }
                try runner.forward(chunk, position: position, logitRows: rows, into: dest, hooks: hooks)
                position += chunk.count
                start = end
            }
        }
        return out
    }

    /// The residual stream that enters the first block for `tokens` at positions
    /// `0 ..< tokens.count`: `tokens.count × hiddenSize` floats. With `runBlock`, a model runs
    /// block by block (SparseGPT calibrates block L on the outputs of the already pruned blocks
    /// before it, computed once). Leaves `position` and the KV cache as they are.
    public func embed(_ tokens: [Int]) throws -> [Float] {
        try checkBlockRows(tokens.count, name: "tokens")
        if let bad = tokens.first(where: { $0 < 0 || $0 >= runner.embeddingRows }) {
            throw LLMOptError.invalidArgument(name: "tokens", reason: "token id \(bad) is outside the vocabulary (0..<\(runner.embeddingRows))")
        }
        let d = model.config.hiddenSize
        var hidden = [Float](repeating: 0, count: tokens.count * d)
        hidden.withUnsafeMutableBufferPointer { h in
            for start in stride(from: 0, to: tokens.count, by: runner.maxBatch) {
                let end = min(tokens.count, start + runner.maxBatch)
                runner.embed(tokens[start..<end], position: start, into: h.baseAddress! + start * d)
            }
        }
        return hidden
    }

    /// Runs transformer block `index` alone over `hidden`, the residual stream of the tokens at
    /// positions `0 ..< rows` (`rows × hiddenSize` floats), in place, as `forward` would run it.
    /// Calls `linearInputObserver` for the block's linear layers and overwrites the block's KV
    /// cache for those positions; `position` is not changed.
    public func runBlock(_ index: Int, hidden: inout [Float]) throws {
        let d = model.config.hiddenSize
        guard (0..<model.config.numLayers).contains(index) else {
            throw LLMOptError.invalidArgument(name: "index", reason: "block \(index) is outside 0..<\(model.config.numLayers)")
        }
        guard hidden.count % d == 0 else {
            throw LLMOptError.invalidArgument(name: "hidden", reason: "\(hidden.count) floats are not rows of the hidden size \(d)")
        }
        let rows = hidden.count / d
        try checkBlockRows(rows, name: "hidden")
        let hooks = ForwardHooks(linearInputObserver: linearInputObserver, isCancelled: isCancelled)
        try hooks.checkCancelled()
        hidden.withUnsafeMutableBufferPointer { h in
            for start in stride(from: 0, to: rows, by: runner.maxBatch) {
                runner.block(index, hidden: h.baseAddress! + start * d, rows: min(rows, start + runner.maxBatch) - start,
                             position: start, hooks: hooks)
            }
        }
    }

    private func checkBlockRows(_ rows: Int, name: String) throws {
        guard rows > 0, rows <= capacity else {
            throw LLMOptError.invalidArgument(name: name, reason: "\(rows) positions; a block runs 1 to the session's capacity of \(capacity)")
        }
    }
}
