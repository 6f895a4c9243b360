/// The Llama forward pass (Llama 1/2/3, SmolLM, TinyLlama, llama2.c's stories models):
/// RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP, optionally tied head.
///
/// Per-layer sizes come from the weight shapes, so structurally pruned models (fewer heads or
/// FFN channels in some layers) run as they are: a layer's heads = q_proj rows / headDim.
final class LlamaRunner: ModelRunner {
    struct Layer {
        let index: Int
        let attnNorm, mlpNorm: Tensor
        let q, k, v, o, gate, up, down: Tensor
        let heads, kvHeads, ffn: Int
        let names: [String]  // q, k, v, o, gate, up, down weight names for the observer
    }

    let config: ModelConfig
    let embedding: Tensor
    let finalNormWeight: Tensor
    let head: Tensor
    let headName: String
    let layers: [Layer]
    let vocabSize: Int
    let embeddingRows: Int
    let maxBatch: Int
    let cache: KVCache
    let rope: RoPETable

    // Scratch activations, allocated once: [maxBatch, width].
    private let x, xb, q, attnOut, proj, gate, up: FloatBuffer
    private let attention: AttentionScratch

    init(model: Model, capacity: Int, maxBatch: Int) throws {
        let c = model.config
        config = c
        let d = c.hiddenSize, hd = c.headDim
        guard hd > 0, hd % 2 == 0 else {
            throw LLMOptError.invalidArgument(name: "headDim", reason: "Llama head size must be even and positive, got \(hd)")
        }
        embedding = try WeightCheck.matrix(model, "model.embed_tokens.weight", columns: d)
        embeddingRows = embedding.shape[0]
        finalNormWeight = try WeightCheck.vector(model, "model.norm.weight", count: d)
        if model["lm_head.weight"] != nil {
            headName = "lm_head.weight"
            head = try WeightCheck.matrix(model, headName, columns: d)
        } else {
            headName = "model.embed_tokens.weight"
            head = embedding
        }
        vocabSize = head.shape[0]
        var layers: [Layer] = []
        for l in 0..<c.numLayers {
            let p = "model.layers.\(l)."
            let names = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                         "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"].map { p + $0 + ".weight" }
            let q = try WeightCheck.matrix(model, names[0], columns: d)
            guard q.shape[0] % hd == 0 else {
                throw LLMOptError.shapeMismatch(name: names[0], expected: [q.shape[0] / hd * hd, d], actual: q.shape, source: model.sourcePath ?? "model")
            }
            let heads = q.shape[0] / hd
            let k = try WeightCheck.matrix(model, names[1], columns: d)
            let kvHeads = k.shape[0] / hd
            guard kvHeads > 0, k.shape[0] % hd == 0, heads % kvHeads == 0 else {
                throw LLMOptError.shapeMismatch(name: names[1], expected: [max(kvHeads, 1) * hd, d], actual: k.shape, source: model.sourcePath ?? "model")
            }
            let v = try WeightCheck.tensor(model, names[2], shape: k.shape)
            let o = try WeightCheck.tensor(model, names[3], shape: [d, heads * hd])
            let gate = try WeightCheck.matrix(model, names[4], columns: d)
            let ffn = gate.shape[0]
            let up = try WeightCheck.tensor(model, names[5], shape: [ffn, d])
            let down = try WeightCheck.tensor(model, names[6], shape: [d, ffn])
            layers.append(Layer(
                index: l,
                attnNorm: try WeightCheck.vector(model, p + "input_layernorm.weight", count: d),
                mlpNorm: try WeightCheck.vector(model, p + "post_attention_layernorm.weight", count: d),
                q: q, k: k, v: v, o: o, gate: gate, up: up, down: down,
                heads: heads, kvHeads: kvHeads, ffn: ffn, names: names))
        }
        self.layers = layers
        self.maxBatch = maxBatch
        cache = KVCache(capacity: capacity, widths: layers.map { $0.kvHeads * hd })
        rope = RoPETable(positions: capacity, headDim: hd, theta: c.ropeTheta)
        let qMax = layers.map { $0.heads * hd }.max() ?? 0
        let ffnMax = layers.map(\.ffn).max() ?? 0
        x = FloatBuffer(count: maxBatch * d)
        xb = FloatBuffer(count: maxBatch * d)
        q = FloatBuffer(count: maxBatch * qMax)
        attnOut = FloatBuffer(count: maxBatch * qMax)
        proj = FloatBuffer(count: maxBatch * d)
        gate = FloatBuffer(count: maxBatch * ffnMax)
        up = FloatBuffer(count: maxBatch * ffnMax)
        attention = AttentionScratch(capacity: capacity, maxHeads: layers.map(\.heads).max() ?? 0, headDim: hd)
    }

    var blockCount: Int { layers.count }
    var residualStream: UnsafeMutablePointer<Float> { x.pointer }
    var normedRows: UnsafeMutablePointer<Float> { xb.pointer }

    func finalNorm(_ out: UnsafeMutablePointer<Float>, _ hidden: UnsafePointer<Float>, rows: Int) {
        rmsNormForward(out, hidden, weight: finalNormWeight.f32Pointer, rows: rows, dim: config.hiddenSize, eps: config.normEps)
    }

    func embed(_ tokens: ArraySlice<Int>, position: Int, into hidden: UnsafeMutablePointer<Float>) {
        embeddingForward(hidden, table: embedding, tokens: tokens)
    }

    func block(_ index: Int, hidden: UnsafeMutablePointer<Float>, rows: Int, position: Int, hooks: ForwardHooks) {
        block(layers[index], hidden: hidden, rows: rows, position: position, hooks: hooks)
    }

    /// One transformer block over `n` rows of the residual stream `x`, in place.
    private func block(_ layer: Layer, hidden x: UnsafeMutablePointer<Float>, rows n: Int, position: Int, hooks: ForwardHooks) {
        let d = config.hiddenSize, hd = config.headDim, eps = config.normEps
        let xb = xb.pointer, q = q.pointer, attnOut = attnOut.pointer
        let proj = proj.pointer, gate = gate.pointer, up = up.pointer
            let kvWidth = layer.kvHeads * hd, qWidth = layer.heads * hd
            let keys = cache.keys[layer.index].pointer + position * kvWidth
            let values = cache.values[layer.index].pointer + position * kvWidth

            // Attention block: x += o(attention(rope(q(norm(x))), rope(k(...)), v(...)))
            rmsNormForward(xb, x, weight: layer.attnNorm.f32Pointer, rows: n, dim: d, eps: eps)
            for name in layer.names[0..<3] { hooks.observe(name, xb, rows: n, cols: d) }
            Linear.forward(xb, rows: n, weights: [layer.q, layer.k, layer.v], into: [q, keys, values])
            for t in 0..<n {
                ropeForward(q + t * qWidth, heads: layer.heads, table: rope, pos: position + t, interleaved: config.ropeInterleaved)
                ropeForward(keys + t * kvWidth, heads: layer.kvHeads, table: rope, pos: position + t, interleaved: config.ropeInterleaved)
            }
            attentionForward(
                attnOut, q: q, keys: cache.keys[layer.index].pointer, values: cache.values[layer.index].pointer,
                scratch: attention, tokens: n, position: position, heads: layer.heads, kvHeads: layer.kvHeads,
                headDim: hd)
            hooks.observe(layer.names[3], attnOut, rows: n, cols: qWidth)
            Linear.forward(attnOut, rows: n, weight: layer.o, into: proj)
            residualForward(x, proj, count: n * d)

            // MLP block: x += down(silu(gate(norm(x))) * up(norm(x)))
            rmsNormForward(xb, x, weight: layer.mlpNorm.f32Pointer, rows: n, dim: d, eps: eps)
            hooks.observe(layer.names[4], xb, rows: n, cols: d)
            hooks.observe(layer.names[5], xb, rows: n, cols: d)
            Linear.forward(xb, rows: n, weights: [layer.gate, layer.up], into: [gate, up])
            swigluForward(gate, up: up, count: n * layer.ffn)
            hooks.observe(layer.names[6], gate, rows: n, cols: layer.ffn)
            Linear.forward(gate, rows: n, weight: layer.down, into: proj)
            residualForward(x, proj, count: n * d)
        }
}
