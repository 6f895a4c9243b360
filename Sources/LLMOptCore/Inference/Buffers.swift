/// A float array allocated once (64-byte aligned) and reused across forward passes: the
/// session's scratch activations and its KV cache. Not cleared: every value is written before
/// it is read, so a large cache costs memory only for the positions actually used.
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { pointer.deallocate() }
}

/// What a forward pass reports to and asks of its caller between layers.
struct ForwardHooks {
    var linearInputObserver: ((_ weightName: String, _ x: UnsafePointer<Float>, _ rows: Int, _ cols: Int) -> Void)?
    var isCancelled: () -> Bool

    @inline(__always)
    func observe(_ name: String, _ x: UnsafePointer<Float>, rows: Int, cols: Int) {
        linearInputObserver?(name, x, rows, cols)
    }

    @inline(__always)
    func checkCancelled() throws {
        if isCancelled() { throw LLMOptError.cancelled }
    }
}

/// One architecture's forward pass, holding its resolved weights, KV cache and scratch.
protocol ModelRunner: AnyObject {
    var config: ModelConfig { get }
    var vocabSize: Int { get }
    /// Most tokens one `forward` call takes (the scratch buffers' row count).
    var maxBatch: Int { get }
    /// Number of rows of the embedding table (valid token ids are below it).
    var embeddingRows: Int { get }
    /// Transformer blocks, run in order by `forward`.
    var blockCount: Int { get }
    /// Every block's keys and values.
    var cache: KVCache { get }
    /// The output layer [vocab, hidden] and its weight name (for observers).
    var head: Tensor { get }
    var headName: String { get }
    /// Scratch of [maxBatch, hidden]: the residual stream, and a normalized copy of it.
    var residualStream: UnsafeMutablePointer<Float> { get }
    var normedRows: UnsafeMutablePointer<Float> { get }
    /// Writes the residual stream that enters the first block for `tokens` (at most
    /// `maxBatch`) at positions `position ..< position + tokens.count` into `hidden`.
    func embed(_ tokens: ArraySlice<Int>, position: Int, into hidden: UnsafeMutablePointer<Float>)
    /// Runs block `index` over `rows` (at most `maxBatch`) rows of the residual stream
    /// `hidden`, in place, at positions `position ..< position + rows`, writing that block's
    /// KV cache for them.
    func block(_ index: Int, hidden: UnsafeMutablePointer<Float>, rows: Int, position: Int, hooks: ForwardHooks)
    /// The norm after the last block (RMSNorm or LayerNorm), from `hidden` rows into `out`.
    func finalNorm(_ out: UnsafeMutablePointer<Float>, _ hidden: UnsafePointer<Float>, rows: Int)
}

extension ModelRunner {
    /// Runs `tokens` (at most `maxBatch`) at positions `position ..< position + tokens.count`,
    /// appending to the KV cache, and writes logits of the last `logitRows` tokens into
    /// `logits` [logitRows, vocabSize].
    func forward(
        _ tokens: ArraySlice<Int>, position: Int, logitRows: Int, into logits: UnsafeMutablePointer<Float>,
        hooks: ForwardHooks
    ) throws {
        let n = tokens.count, d = config.hiddenSize
        let x = residualStream, xb = normedRows
        embed(tokens, position: position, into: x)
        for index in 0..<blockCount {
            try hooks.checkCancelled()
            block(index, hidden: x, rows: n, position: position, hooks: hooks)
        }
        try hooks.checkCancelled()
        guard logitRows > 0 else { return }
        finalNorm(xb, x + (n - logitRows) * d, rows: logitRows)
        hooks.observe(headName, xb, rows: logitRows, cols: d)
        Linear.forward(xb, rows: logitRows, weight: head, into: logits, activations: .exact)
    }
}

/// Shape checks shared by the architecture files.
enum WeightCheck {
    static func tensor(_ model: Model, _ name: String, shape: [Int]) throws -> Tensor {
        let t = try model.weight(name)
        guard t.shape == shape else {
            throw LLMOptError.shapeMismatch(name: name, expected: shape, actual: t.shape, source: model.sourcePath ?? "model")
        }
        return t
    }

    /// A matrix whose column count must be `columns`; its row count is returned as the size.
    static func matrix(_ model: Model, _ name: String, columns: Int) throws -> Tensor {
        let t = try model.weight(name)
        guard t.rank == 2, t.columns == columns else {
            throw LLMOptError.shapeMismatch(name: name, expected: [t.shape.first ?? 0, columns], actual: t.shape, source: model.sourcePath ?? "model")
        }
        return t
    }

    /// A float vector of `count` values (norm weights, biases), converted to float32 once.
    static func vector(_ model: Model, _ name: String, count: Int) throws -> Tensor {
        try tensor(model, name, shape: [count]).toF32()
    }
}
