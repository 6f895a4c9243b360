import Foundation

/// A model set up for training: its parameters as float32 master weights with gradients, and the
/// forward pass of its architecture over a batch of B rows of T tokens that keeps the activations
/// the backward pass needs, then the backward pass itself (llm.c style: explicit pairs, no tape).
///
/// Every row uses positions 0..T−1 with causal attention; the loss is the mean next-token
/// cross-entropy over the B·(T−1) predictions (the last position of each row predicts nothing).
public final class TrainingGraph: @unchecked Sendable {
    public let config: ModelConfig
    public let parameters: ParameterSet
    let headName: String
    let embedName: String
    let layers: [LayerShape]
    let vocab: Int
    /// Autocast: inputs, weights and outputs of every matmul rounded to bfloat16 or float16
    /// (float32 accumulation inside, float32 master weights); fp32: no rounding.
    public var autocast: TrainingPrecision = .fp32
    private var autocastBF16: Bool { autocast != .fp32 }
    /// Quantization-aware training: the matmuls use these fake-quantized weights in place of the
    /// master copies they are made from (remade whenever the parameters change).
    public var fakeQuantizer: FakeQuantizer?
    /// Replaces next-token cross-entropy in training runs (distillation); evaluation runs
    /// (`backward: false`) always score cross-entropy.
    public var logitLoss: (any LogitLoss)?
    /// Activation checkpointing: the forward pass keeps only each layer's input; the backward
    /// pass runs each layer's forward again, just before its backward, into one set of buffers
    /// that all layers share. About a third more compute for a layer's activations instead of
    /// every layer's.
    public var recomputeActivations = false {
        didSet { if recomputeActivations != oldValue { acts = nil } }
    }

    /// The name of a per-layer activation: its own per layer, or shared when recomputed.
    private func key(_ name: String, _ l: Int) -> String { recomputeActivations ? name : "\(name).\(l)" }

    private func roundHalf(_ dst: FloatPtr, _ src: ConstFloatPtr, count: Int) {
        Precision.round(dst, src, count: count, to: autocast)
    }

    /// One block's widths and parameter names, read from the family's description.
    struct LayerShape {
        let heads: Int, kvHeads: Int, ffn: Int
        var qWidth: Int, kvWidth: Int
        let window: Int?
        /// Norms (LayerNorm's bias where the block has one).
        let attentionNorm: String, attentionNormBias: String?, mlpNorm: String, mlpNormBias: String?
        /// q, k and v (separate), or the fused projection in `q` (k and v empty).
        let q: String, k: String, v: String
        let o: String
        /// SwiGLU's gate and up, or the GELU MLP's input projection in `gate` (up empty).
        let gate: String, up: String
        let down: String
        /// Each linear's bias, when the model has it.
        let biases: [String: String]

        func bias(_ weight: String) -> String? { biases[weight] }
    }

    let block: TrainingBlock
    /// The learned position table (GPT-2), the final norm and its bias.
    let positionsName: String?
    let finalNormName: String, finalNormBiasName: String?
    /// False for a forward-only graph (a distillation teacher): no gradients, and activations
    /// kept for one layer at a time, since no backward pass will read them.
    public let trainable: Bool

    /// The graph of `model`; `forwardOnly` allocates no gradients and keeps no per-layer activations.
    public init(model: Model, forwardOnly: Bool = false) throws {
        config = model.config
        trainable = !forwardOnly
        let c = model.config, d = c.hiddenSize, hd = c.headDim
        let family = c.architecture.family
        guard let kind = family.trainingBlock else {
            let trainable = ModelFamilies.all.filter { $0.trainingBlock != nil }.map(\.displayName).joined(separator: ", ")
            throw LLMOptError.unsupported("training runs \(trainable); \(family.displayName) has no backward pass yet")
        }
        block = kind
        let names = family.names, topology = family.block
        embedName = names.embedding
        headName = model[names.head] != nil ? names.head : embedName
        positionsName = names.positions
        finalNormName = names.finalNorm
        finalNormBiasName = names.finalNormBias
        var parameterNames = [embedName] + [positionsName].compactMap { $0 }
        var layers: [LayerShape] = []
        for l in 0..<c.numLayers {
            let p = names.prefix(l)
            let (q, k, v): (String, String, String)
            switch (kind, topology.attention) {
            case let (.rotarySwiGLU, .separate(sq, sk, sv)): (q, k, v) = (p + sq, p + sk, p + sv)
            case let (.learnedPositionsGELU, .fused(qkv)): (q, k, v) = (p + qkv, "", "")
            default: throw LLMOptError.unsupported("\(family.displayName): its attention projections do not fit its training block")
            }
            let mlpIn = topology.mlpInputs.map { p + $0 }
            guard mlpIn.count == (kind == .rotarySwiGLU ? 2 : 1) else {
                throw LLMOptError.unsupported("\(family.displayName): its MLP inputs do not fit its training block")
            }
            let qRows = try WeightCheck.matrix(model, q, columns: d).shape[0]
            let gateRows = try WeightCheck.matrix(model, mlpIn[0], columns: d).shape[0]
            let heads: Int, kvHeads: Int
            if kind == .rotarySwiGLU {
                heads = qRows / hd
                kvHeads = try WeightCheck.matrix(model, k, columns: d).shape[0] / hd
            } else {
                heads = qRows / (3 * hd)
                kvHeads = heads
            }
            guard heads > 0, kvHeads > 0, heads % kvHeads == 0 else {
                throw LLMOptError.invalidArgument(name: "model", reason: "layer \(l): \(heads) heads over \(kvHeads) kv heads")
            }
            let weights = [q, k, v, p + topology.attentionOutput, mlpIn[0], mlpIn.count > 1 ? mlpIn[1] : "", p + topology.mlpOutput]
                .filter { !$0.isEmpty }
            var biases: [String: String] = [:]
            for w in weights {
                let b = w.replacingSuffix(".weight", with: ".bias")
                if model[b] != nil { biases[w] = b }
            }
            let normBias = { (n: BlockTopology.Norm) in n.bias.map { p + $0 } }
            let shape = LayerShape(
                heads: heads, kvHeads: kvHeads, ffn: gateRows, qWidth: heads * hd, kvWidth: kvHeads * hd, window: c.window(layer: l),
                attentionNorm: p + topology.attentionNorm.weight, attentionNormBias: normBias(topology.attentionNorm),
                mlpNorm: p + topology.mlpNorm.weight, mlpNormBias: normBias(topology.mlpNorm),
                q: q, k: k, v: v, o: p + topology.attentionOutput, gate: mlpIn[0], up: mlpIn.count > 1 ? mlpIn[1] : "",
                down: p + topology.mlpOutput, biases: biases)
            layers.append(shape)
            parameterNames += [shape.attentionNorm, shape.attentionNormBias, shape.mlpNorm, shape.mlpNormBias].compactMap { $0 }
            parameterNames += weights + weights.compactMap { biases[$0] }
        }
        parameterNames += [finalNormName, finalNormBiasName].compactMap { $0 }
        if headName != embedName { parameterNames.append(headName) }
        // Keep the model file's order where it has one (checkpoints and listings read alike).
        let order = Dictionary(uniqueKeysWithValues: model.weightOrder.enumerated().map { ($1, $0) })
        parameterNames.sort { (order[$0] ?? Int.max, $0) < (order[$1] ?? Int.max, $1) }
        parameters = try ParameterSet(model: model, names: parameterNames, gradients: !forwardOnly)
        guard let head = parameters.entry(headName), head.shape.count == 2, head.shape[1] == d else {
            throw LLMOptError.invalidArgument(name: "model", reason: "no output projection of width \(d)")
        }
        vocab = head.shape[0]
        self.layers = layers
        // Shared per-layer buffers: the forward pass is the same, only nothing is kept for a backward pass.
        if forwardOnly { recomputeActivations = true }
    }

    // MARK: Activations

    /// Everything the forward pass keeps for the backward pass, for one (B, T).
    final class Activations {
        let batch: Int, seq: Int
        var buffers: [String: FloatBuffer] = [:]
        init(batch: Int, seq: Int) { self.batch = batch; self.seq = seq }
        func get(_ key: String, _ count: Int) -> FloatPtr {
            if let b = buffers[key], b.count >= count { return b.pointer }
            let b = FloatBuffer(count: count)
            buffers[key] = b
            return b.pointer
        }
        var byteCount: Int { buffers.values.reduce(0) { $0 + $1.count * 4 } }
    }

    private var acts: Activations?
    private let scratch = Scratch()
    private var ropeTable: RoPETable?

    /// Bytes held by activations and backward scratch (after the last step).
    public var activationBytes: Int { (acts?.byteCount ?? 0) + scratch.byteCount }

    func activations(batch: Int, seq: Int) -> Activations {
        if let a = acts, a.batch == batch, a.seq == seq { return a }
        let a = Activations(batch: batch, seq: seq)
        acts = a
        return a
    }

    func rope(seq: Int) -> RoPETable {
        if let r = ropeTable, r.cos.count >= seq * config.headDim / 2 { return r }
        let r = RoPETable(positions: seq, headDim: config.headDim, theta: config.ropeTheta)
        ropeTable = r
        return r
    }

    // MARK: Forward and backward

    /// Runs the forward pass on `ids` (B·T tokens, row-major) and, when `backward`, adds
    /// d(loss · gradScale)/d(parameter) into the gradients. Returns the mean loss over the
    /// B·(T−1) predictions; `nll` receives each position's loss ([B·T], last positions untouched).
    @discardableResult
    public func run(ids: [Int], batch B: Int, seq T: Int, backward: Bool = true, gradScale: Float = 1,
                    nll: UnsafeMutablePointer<Float>? = nil) throws -> Double {
        guard trainable || !backward else {
            throw LLMOptError.invalidArgument(name: "backward", reason: "this graph is forward-only (a distillation teacher): it has no gradients")
        }
        guard B > 0, T > 1, ids.count == B * T else {
            throw LLMOptError.invalidArgument(name: "batch", reason: "\(ids.count) ids for \(B) rows of \(T) tokens (T must be at least 2)")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= (parameters.entry(embedName)?.shape[0] ?? 0) }) {
            throw LLMOptError.invalidArgument(name: "ids", reason: "token id \(bad) is outside the embedding table")
        }
        if let positionsName, let table = parameters.entry(positionsName), T > table.shape[0] {
            throw LLMOptError.invalidArgument(name: "seq", reason: "\(config.architecture.family.displayName) has \(table.shape[0]) learned positions; cannot train on \(T)")
        }
        try fakeQuantizer?.refresh(from: parameters)
        let a = activations(batch: B, seq: T)
        let predictions = B * (T - 1)
        let logits: FloatPtr
        switch block {
        case .rotarySwiGLU: logits = llamaForward(ids: ids, a: a)
        case .learnedPositionsGELU: logits = gpt2Forward(ids: ids, a: a)
        }
        let sum: Double
        if backward, let logitLoss {
            sum = try logitLoss.lossAndGradient(logits: logits, ids: ids, seq: T, vocab: vocab, gradScale: gradScale / Float(predictions), backward: true)
        } else {
            sum = TrainOps.crossEntropyForwardBackward(logits, ids: ids, seq: T, vocab: vocab,
                                                       gradScale: gradScale / Float(predictions), nll: nll, backward: backward)
        }
        if backward {
            switch block {
            case .rotarySwiGLU: llamaBackward(ids: ids, a: a)
            case .learnedPositionsGELU: gpt2Backward(ids: ids, a: a)
            }
        }
        return sum / Double(predictions)
    }

    /// The logits of the last forward pass (`rows` of them), as left by a run without backward.
    func lastLogits(rows: Int) -> ConstFloatPtr { ConstFloatPtr(acts!.get("logits", rows * vocab)) }

    /// Weights as the matmuls see them: the master copy (or its fake quantization), or
    /// (autocast) its rounding, made again at each use into one transient buffer rather than
    /// kept: rounding is cheap beside the product, and a kept copy would cost as much memory as the weights.
    private func matmulWeight(_ name: String) -> ConstFloatPtr {
        let w = fakeQuantizer?.weight(name) ?? parameters.value(name)
        guard autocastBF16, let e = parameters.entry(name) else { return ConstFloatPtr(w) }
        let r = scratch.buffer(12, count: e.count)
        roundHalf(r, w, count: e.count)
        return ConstFloatPtr(r)
    }

    /// Input rows as the matmuls see them (autocast: rounded into a transient buffer; `key` is
    /// only a label: the float32 activations are what is kept for the backward pass).
    private func matmulInput(_ x: FloatPtr, count: Int, key: String) -> ConstFloatPtr {
        guard autocastBF16 else { return ConstFloatPtr(x) }
        let r = scratch.buffer(13, count: count)
        roundHalf(r, x, count: count)
        return ConstFloatPtr(r)
    }

    /// Rounds a matmul output to bf16 in place under autocast.
    private func matmulOutput(_ y: FloatPtr, count: Int) {
        if autocastBF16 { roundHalf(y, y, count: count) }
    }

    private func linear(_ y: FloatPtr, _ x: ConstFloatPtr, rows n: Int, _ name: String, out: Int, in k: Int, bias: String? = nil) {
        TrainOps.linearForward(y, x, rows: n, weight: matmulWeight(name), out: out, in: k)
        matmulOutput(y, count: n * out)
        if let bias {
            let b = parameters.value(bias)
            for r in 0..<n { for o in 0..<out { y[r * out + o] += b[o] } }
        }
    }

    private func linearBack(dx: FloatPtr?, accumulate: Bool, dy: ConstFloatPtr, x: ConstFloatPtr, rows n: Int, _ name: String,
                            out: Int, in k: Int, bias: String? = nil) {
        var dyUsed = dy
        if autocast != .fp32 {
            // Autocast runs the backward matmuls in half precision too: their input gradient is rounded.
            let r = scratch.buffer(11, count: n * out)
            roundHalf(r, dy, count: n * out)
            dyUsed = ConstFloatPtr(r)
        }
        TrainOps.linearBackward(dx: dx, accumulate: accumulate, dW: parameters.grad(name), dBias: bias.map { parameters.grad($0) },
                                dy: dyUsed, x: x, weight: matmulWeight(name), rows: n, out: out, in: k)
        if autocast == .fp16, let dx { roundHalf(dx, dx, count: n * k) }
    }

    // MARK: Llama

    private func llamaForward(ids: [Int], a: Activations) -> FloatPtr {
        let N = a.batch * a.seq, d = config.hiddenSize, eps = config.normEps
        var x = a.get("res0", N * d)
        TrainOps.embeddingForward(x, table: parameters.value(embedName), ids: ids, dim: d)
        for l in layers.indices {
            x = llamaLayerForward(l, input: x, a: a)
        }
        let rstdF = a.get("rstdF", N), xnF = a.get("xnF", N * d)
        TrainOps.rmsNormForward(xnF, rstd: rstdF, x, weight: parameters.value(finalNormName), rows: N, dim: d, eps: eps)
        let logits = a.get("logits", N * vocab)
        linear(logits, matmulInput(xnF, count: N * d, key: "xnF"), rows: N, headName, out: vocab, in: d)
        return logits
    }

    /// One Llama block: res[l+1] from res[l] (`input`), keeping what its backward pass reads.
    @discardableResult
    private func llamaLayerForward(_ l: Int, input x: FloatPtr, a: Activations) -> FloatPtr {
        let L = layers[l], B = a.batch, T = a.seq, N = B * T, d = config.hiddenSize, hd = config.headDim, eps = config.normEps
        let table = rope(seq: T)
        let rstd1 = a.get(key("rstd1", l), N), xn1 = a.get(key("xn1", l), N * d)
        TrainOps.rmsNormForward(xn1, rstd: rstd1, x, weight: parameters.value(L.attentionNorm), rows: N, dim: d, eps: eps)
        let q = a.get(key("q", l), N * L.qWidth), k = a.get(key("k", l), N * L.kvWidth), v = a.get(key("v", l), N * L.kvWidth)
        let xin = matmulInput(xn1, count: N * d, key: key("xn1", l))
        linear(q, xin, rows: N, L.q, out: L.qWidth, in: d, bias: L.bias(L.q))
        linear(k, xin, rows: N, L.k, out: L.kvWidth, in: d, bias: L.bias(L.k))
        linear(v, xin, rows: N, L.v, out: L.kvWidth, in: d, bias: L.bias(L.v))
        TrainOps.rope(q, rows: N, seq: T, heads: L.heads, stride: L.qWidth, table: table, interleaved: config.ropeInterleaved, inverse: false)
        TrainOps.rope(k, rows: N, seq: T, heads: L.kvHeads, stride: L.kvWidth, table: table, interleaved: config.ropeInterleaved, inverse: false)
        let probs = a.get(key("probs", l), B * L.heads * T * T), ao = a.get(key("ao", l), N * L.qWidth)
        let shape = TrainOps.AttentionShape(batch: B, seq: T, heads: L.heads, kvHeads: L.kvHeads, headDim: hd, qStride: L.qWidth,
                                            kStride: L.kvWidth, vStride: L.kvWidth, outStride: L.qWidth,
                                            window: L.window)
        attention(ao, probs, q, k, v, shape, layer: l)
        let mid = a.get(key("mid", l), N * d)
        linear(mid, matmulInput(ao, count: N * L.qWidth, key: key("ao", l)), rows: N, L.o, out: d, in: L.qWidth, bias: L.bias(L.o))
        TrainOps.add(mid, x, count: N * d)
        let rstd2 = a.get(key("rstd2", l), N), xn2 = a.get(key("xn2", l), N * d)
        TrainOps.rmsNormForward(xn2, rstd: rstd2, mid, weight: parameters.value(L.mlpNorm), rows: N, dim: d, eps: eps)
        let g = a.get(key("g", l), N * L.ffn), u = a.get(key("u", l), N * L.ffn), h = a.get(key("h", l), N * L.ffn)
        let xin2 = matmulInput(xn2, count: N * d, key: key("xn2", l))
        linear(g, xin2, rows: N, L.gate, out: L.ffn, in: d, bias: L.bias(L.gate))
        linear(u, xin2, rows: N, L.up, out: L.ffn, in: d, bias: L.bias(L.up))
        TrainOps.swigluForward(h, gate: g, up: u, count: N * L.ffn)
        matmulOutput(h, count: N * L.ffn)  // autocast: silu(g)·u acts on bf16 tensors
        let out = a.get("res\(l + 1)", N * d)
        linear(out, matmulInput(h, count: N * L.ffn, key: key("h", l)), rows: N, L.down, out: d, in: L.ffn, bias: L.bias(L.down))
        TrainOps.add(out, mid, count: N * d)
        return out
    }

    private func attention(_ ao: FloatPtr, _ probs: FloatPtr, _ q: ConstFloatPtr, _ k: ConstFloatPtr, _ v: ConstFloatPtr,
                           _ shape: TrainOps.AttentionShape, layer l: Int) {
        guard autocastBF16 else {
            TrainOps.attentionForward(out: ao, probs: probs, q: q, k: k, v: v, shape: shape)
            return
        }
        // Autocast: q·kᵀ and probs·v take bf16 inputs and give bf16 outputs.
        let (qb, kb, vb) = roundedAttentionInputs(q, k, v, shape)
        TrainOps.attentionForward(out: ao, probs: probs, q: qb, k: kb, v: vb, shape: shape, roundScores: autocast)
        roundHalf(ao, ao, count: shape.batch * shape.seq * shape.outStride)
    }

    private func llamaBackward(ids: [Int], a: Activations) {
        let B = a.batch, T = a.seq, N = B * T, d = config.hiddenSize, hd = config.headDim
        let table = rope(seq: T)
        let maxWide = max(layers.map(\.ffn).max() ?? 0, layers.map(\.qWidth).max() ?? 0)
        let dres = scratch.buffer(4, count: N * d), dxn = scratch.buffer(5, count: N * d), dtmp = scratch.buffer(6, count: N * d)
        let dA = scratch.buffer(7, count: N * maxWide), dB = scratch.buffer(8, count: N * maxWide)
        let dC = scratch.buffer(9, count: N * maxWide), dD = scratch.buffer(10, count: N * maxWide)
        let logits = a.get("logits", N * vocab), xnF = a.get("xnF", N * d)
        linearBack(dx: dxn, accumulate: false, dy: logits, x: matmulInput(xnF, count: N * d, key: "xnF"), rows: N, headName, out: vocab, in: d)
        TrainOps.rmsNormBackward(dx: dres, dw: parameters.grad(finalNormName), dy: dxn, x: a.get("res\(layers.count)", N * d),
                                 weight: parameters.value(finalNormName), rstd: a.get("rstdF", N), rows: N, dim: d)
        for (l, L) in layers.enumerated().reversed() {
            if recomputeActivations { llamaLayerForward(l, input: a.get("res\(l)", N * d), a: a) }
            // MLP: res[l+1] = mid + down(silu(g)·u), g/u from xn2 = norm(mid)
            let h = a.get(key("h", l), N * L.ffn), g = a.get(key("g", l), N * L.ffn), u = a.get(key("u", l), N * L.ffn)
            linearBack(dx: dA, accumulate: false, dy: dres, x: matmulInput(h, count: N * L.ffn, key: key("h", l)), rows: N,
                       L.down, out: d, in: L.ffn, bias: L.bias(L.down))
            TrainOps.swigluBackward(dGate: dA, dUp: dB, dh: dA, gate: g, up: u, count: N * L.ffn)
            let xn2 = matmulInput(a.get(key("xn2", l), N * d), count: N * d, key: key("xn2", l))
            linearBack(dx: dxn, accumulate: false, dy: dA, x: xn2, rows: N, L.gate, out: L.ffn, in: d, bias: L.bias(L.gate))
            linearBack(dx: dxn, accumulate: true, dy: dB, x: xn2, rows: N, L.up, out: L.ffn, in: d, bias: L.bias(L.up))
            let mid = a.get(key("mid", l), N * d)
            TrainOps.rmsNormBackward(dx: dtmp, dw: parameters.grad(L.mlpNorm), dy: dxn, x: mid,
                                     weight: parameters.value(L.mlpNorm), rstd: a.get(key("rstd2", l), N), rows: N, dim: d)
            TrainOps.add(dres, dtmp, count: N * d)
            // Attention: mid = res[l] + o(attention(rope(q), rope(k), v))
            let ao = a.get(key("ao", l), N * L.qWidth)
            linearBack(dx: dA, accumulate: false, dy: dres, x: matmulInput(ao, count: N * L.qWidth, key: key("ao", l)), rows: N,
                       L.o, out: d, in: L.qWidth, bias: L.bias(L.o))
            let shape = TrainOps.AttentionShape(batch: B, seq: T, heads: L.heads, kvHeads: L.kvHeads, headDim: hd, qStride: L.qWidth,
                                                kStride: L.kvWidth, vStride: L.kvWidth, outStride: L.qWidth,
                                            window: L.window)
            let (q, k, v) = attentionInputs(l, N: N, shape: shape)
            TrainOps.attentionBackward(dq: dB, dk: dC, dv: dD, dout: dA, probs: a.get(key("probs", l), B * L.heads * T * T), q: q, k: k, v: v,
                                       shape: shape)
            TrainOps.rope(dB, rows: N, seq: T, heads: L.heads, stride: L.qWidth, table: table, interleaved: config.ropeInterleaved, inverse: true)
            TrainOps.rope(dC, rows: N, seq: T, heads: L.kvHeads, stride: L.kvWidth, table: table, interleaved: config.ropeInterleaved, inverse: true)
            let xn1 = matmulInput(a.get(key("xn1", l), N * d), count: N * d, key: key("xn1", l))
            linearBack(dx: dxn, accumulate: false, dy: dB, x: xn1, rows: N, L.q, out: L.qWidth, in: d, bias: L.bias(L.q))
            linearBack(dx: dxn, accumulate: true, dy: dC, x: xn1, rows: N, L.k, out: L.kvWidth, in: d, bias: L.bias(L.k))
            linearBack(dx: dxn, accumulate: true, dy: dD, x: xn1, rows: N, L.v, out: L.kvWidth, in: d, bias: L.bias(L.v))
            TrainOps.rmsNormBackward(dx: dtmp, dw: parameters.grad(L.attentionNorm), dy: dxn, x: a.get(l == 0 ? "res0" : "res\(l)", N * d),
                                     weight: parameters.value(L.attentionNorm), rstd: a.get(key("rstd1", l), N), rows: N, dim: d)
            TrainOps.add(dres, dtmp, count: N * d)
        }
        TrainOps.embeddingBackward(dTable: parameters.grad(embedName), dx: dres, ids: ids, dim: d)
    }

    /// q, k, v as the attention saw them (under autocast, rounded again from the kept float32 ones).
    private func attentionInputs(_ l: Int, N: Int, shape: TrainOps.AttentionShape) -> (ConstFloatPtr, ConstFloatPtr, ConstFloatPtr) {
        let a = acts!
        let q, k, v: ConstFloatPtr
        if block == .learnedPositionsGELU {
            let qkv = a.get(key("qkv", l), N * shape.qStride)
            let w = shape.outStride
            (q, k, v) = (ConstFloatPtr(qkv), ConstFloatPtr(qkv + w), ConstFloatPtr(qkv + 2 * w))
        } else {
            (q, k, v) = (ConstFloatPtr(a.get(key("q", l), N * shape.qStride)), ConstFloatPtr(a.get(key("k", l), N * shape.kStride)),
                         ConstFloatPtr(a.get(key("v", l), N * shape.vStride)))
        }
        return autocastBF16 ? roundedAttentionInputs(q, k, v, shape) : (q, k, v)
    }

    /// Autocast's q, k, v: rounded copies in transient buffers (GPT-2's share one fused row).
    private func roundedAttentionInputs(_ q: ConstFloatPtr, _ k: ConstFloatPtr, _ v: ConstFloatPtr,
                                        _ shape: TrainOps.AttentionShape) -> (ConstFloatPtr, ConstFloatPtr, ConstFloatPtr) {
        // Rows are `stride` apart but only `width` long (GPT-2's q, k, v sit side by side in one row):
        // copy up to the end of the last row, never past the buffer.
        let N = shape.batch * shape.seq, hd = shape.headDim
        let qn = (N - 1) * shape.qStride + shape.heads * hd, kn = (N - 1) * shape.kStride + shape.kvHeads * hd
        let vn = (N - 1) * shape.vStride + shape.kvHeads * hd
        let qb = scratch.buffer(14, count: qn), kb = scratch.buffer(15, count: kn), vb = scratch.buffer(16, count: vn)
        roundHalf(qb, q, count: qn)
        roundHalf(kb, k, count: kn)
        roundHalf(vb, v, count: vn)
        return (ConstFloatPtr(qb), ConstFloatPtr(kb), ConstFloatPtr(vb))
    }

    // MARK: GPT-2

    private func gpt2Forward(ids: [Int], a: Activations) -> FloatPtr {
        let T = a.seq, N = a.batch * T, d = config.hiddenSize, eps = config.normEps
        var x = a.get("res0", N * d)
        TrainOps.embeddingForward(x, table: parameters.value(embedName), ids: ids, dim: d)
        let wpe = parameters.value(positionsName!)
        for r in 0..<N { TrainOps.add(x + r * d, wpe + (r % T) * d, count: d) }
        for l in layers.indices {
            x = gpt2LayerForward(l, input: x, a: a)
        }
        let meanF = a.get("meanF", N), rstdF = a.get("rstdF", N), xnF = a.get("xnF", N * d)
        TrainOps.layerNormForward(xnF, mean: meanF, rstd: rstdF, x, weight: parameters.value(finalNormName),
                                  bias: parameters.value(finalNormBiasName!), rows: N, dim: d, eps: eps)
        let logits = a.get("logits", N * vocab)
        linear(logits, matmulInput(xnF, count: N * d, key: "xnF"), rows: N, headName, out: vocab, in: d)
        return logits
    }

    /// One GPT-2 block: res[l+1] from res[l] (`input`), keeping what its backward pass reads.
    @discardableResult
    private func gpt2LayerForward(_ l: Int, input x: FloatPtr, a: Activations) -> FloatPtr {
        let L = layers[l], B = a.batch, T = a.seq, N = B * T, d = config.hiddenSize, hd = config.headDim, eps = config.normEps
        let W = L.qWidth
        let mean1 = a.get(key("mean1", l), N), rstd1 = a.get(key("rstd1", l), N), xn1 = a.get(key("xn1", l), N * d)
        TrainOps.layerNormForward(xn1, mean: mean1, rstd: rstd1, x, weight: parameters.value(L.attentionNorm),
                                  bias: parameters.value(L.attentionNormBias!), rows: N, dim: d, eps: eps)
        let qkv = a.get(key("qkv", l), N * 3 * W)
        linear(qkv, matmulInput(xn1, count: N * d, key: key("xn1", l)), rows: N, L.q, out: 3 * W, in: d, bias: L.bias(L.q))
        let probs = a.get(key("probs", l), B * L.heads * T * T), ao = a.get(key("ao", l), N * W)
        let shape = TrainOps.AttentionShape(batch: B, seq: T, heads: L.heads, kvHeads: L.heads, headDim: hd, qStride: 3 * W,
                                            kStride: 3 * W, vStride: 3 * W, outStride: W)
        attention(ao, probs, qkv, qkv + W, qkv + 2 * W, shape, layer: l)
        let mid = a.get(key("mid", l), N * d)
        linear(mid, matmulInput(ao, count: N * W, key: key("ao", l)), rows: N, L.o, out: d, in: W, bias: L.bias(L.o))
        TrainOps.add(mid, x, count: N * d)
        let mean2 = a.get(key("mean2", l), N), rstd2 = a.get(key("rstd2", l), N), xn2 = a.get(key("xn2", l), N * d)
        TrainOps.layerNormForward(xn2, mean: mean2, rstd: rstd2, mid, weight: parameters.value(L.mlpNorm),
                                  bias: parameters.value(L.mlpNormBias!), rows: N, dim: d, eps: eps)
        let fc = a.get(key("fc", l), N * L.ffn), act = a.get(key("act", l), N * L.ffn)
        linear(fc, matmulInput(xn2, count: N * d, key: key("xn2", l)), rows: N, L.gate, out: L.ffn, in: d, bias: L.bias(L.gate))
        TrainOps.geluForward(act, fc, count: N * L.ffn)
        let out = a.get("res\(l + 1)", N * d)
        linear(out, matmulInput(act, count: N * L.ffn, key: key("act", l)), rows: N, L.down, out: d, in: L.ffn, bias: L.bias(L.down))
        TrainOps.add(out, mid, count: N * d)
        return out
    }

    private func gpt2Backward(ids: [Int], a: Activations) {
        let B = a.batch, T = a.seq, N = B * T, d = config.hiddenSize, hd = config.headDim
        let maxWide = max(layers.map(\.ffn).max() ?? 0, 3 * (layers.map(\.qWidth).max() ?? 0))
        let dres = scratch.buffer(4, count: N * d), dxn = scratch.buffer(5, count: N * d), dtmp = scratch.buffer(6, count: N * d)
        let dA = scratch.buffer(7, count: N * maxWide), dB = scratch.buffer(8, count: N * maxWide)
        let logits = a.get("logits", N * vocab), xnF = a.get("xnF", N * d)
        linearBack(dx: dxn, accumulate: false, dy: logits, x: matmulInput(xnF, count: N * d, key: "xnF"), rows: N, headName, out: vocab, in: d)
        TrainOps.layerNormBackward(dx: dres, dw: parameters.grad(finalNormName), db: parameters.grad(finalNormBiasName!),
                                   dy: dxn, x: a.get("res\(layers.count)", N * d), weight: parameters.value(finalNormName),
                                   mean: a.get("meanF", N), rstd: a.get("rstdF", N), rows: N, dim: d)
        for (l, L) in layers.enumerated().reversed() {
            if recomputeActivations { gpt2LayerForward(l, input: a.get("res\(l)", N * d), a: a) }
            let W = L.qWidth
            let act = a.get(key("act", l), N * L.ffn), fc = a.get(key("fc", l), N * L.ffn)
            linearBack(dx: dA, accumulate: false, dy: dres, x: matmulInput(act, count: N * L.ffn, key: key("act", l)), rows: N,
                       L.down, out: d, in: L.ffn, bias: L.bias(L.down))
            TrainOps.geluBackward(dx: dA, dy: dA, x: fc, count: N * L.ffn)
            linearBack(dx: dxn, accumulate: false, dy: dA, x: matmulInput(a.get(key("xn2", l), N * d), count: N * d, key: key("xn2", l)), rows: N,
                       L.gate, out: L.ffn, in: d, bias: L.bias(L.gate))
            let mid = a.get(key("mid", l), N * d)
            TrainOps.layerNormBackward(dx: dtmp, dw: parameters.grad(L.mlpNorm), db: parameters.grad(L.mlpNormBias!), dy: dxn, x: mid,
                                       weight: parameters.value(L.mlpNorm), mean: a.get(key("mean2", l), N), rstd: a.get(key("rstd2", l), N),
                                       rows: N, dim: d)
            TrainOps.add(dres, dtmp, count: N * d)
            let ao = a.get(key("ao", l), N * W)
            linearBack(dx: dA, accumulate: false, dy: dres, x: matmulInput(ao, count: N * W, key: key("ao", l)), rows: N,
                       L.o, out: d, in: W, bias: L.bias(L.o))
            let shape = TrainOps.AttentionShape(batch: B, seq: T, heads: L.heads, kvHeads: L.heads, headDim: hd, qStride: 3 * W,
                                                kStride: 3 * W, vStride: 3 * W, outStride: W)
            let (q, k, v) = attentionInputs(l, N: N, shape: shape)
            TrainOps.attentionBackward(dq: dB, dk: dB + W, dv: dB + 2 * W, dout: dA, probs: a.get(key("probs", l), B * L.heads * T * T),
                                       q: q, k: k, v: v, shape: shape)
            linearBack(dx: dxn, accumulate: false, dy: dB, x: matmulInput(a.get(key("xn1", l), N * d), count: N * d, key: key("xn1", l)), rows: N,
                       L.q, out: 3 * W, in: d, bias: L.bias(L.q))
            TrainOps.layerNormBackward(dx: dtmp, dw: parameters.grad(L.attentionNorm), db: parameters.grad(L.attentionNormBias!), dy: dxn,
                                       x: a.get("res\(l)", N * d), weight: parameters.value(L.attentionNorm), mean: a.get(key("mean1", l), N),
                                       rstd: a.get(key("rstd1", l), N), rows: N, dim: d)
            TrainOps.add(dres, dtmp, count: N * d)
        }
        TrainOps.embeddingBackward(dTable: parameters.grad(embedName), dx: dres, ids: ids, dim: d)
        let dwpe = parameters.grad(positionsName!)
        for r in 0..<N { TrainOps.add(dwpe + (r % T) * d, dres + r * d, count: d) }
    }
}
