/// The GPT-2 forward pass: learned position embeddings, LayerNorm with bias, fused q/k/v
/// projection (`c_attn`), causal attention, GELU (tanh approximation) MLP, head tied to `wte`.
///
/// Linear weights are `[out, in]` (the loader transposes GPT-2's Conv1D). A layer's heads are
/// c_attn rows / (3 · headDim), so structurally pruned layers run as they are.
final class GPT2Runner: ModelRunner {
    struct Layer {
        let index: Int
        let ln1w, ln1b, ln2w, ln2b: Tensor
        let attn, attnBias, attnProj, attnProjBias: Tensor
        let fc, fcBias, mlpProj, mlpProjBias: Tensor
        let heads, ffn: Int
        let names: (attn: String, attnProj: String, fc: String, mlpProj: String)
    }

    let config: ModelConfig
    let wte, wpe: Tensor
    let lnfw, lnfb: Tensor
    let head: Tensor
    let headName: String
    let layers: [Layer]
    let vocabSize: Int
    let embeddingRows: Int
    let maxBatch: Int
    let cache: KVCache

    // Scratch activations, allocated once: [maxBatch, width].
    private let x, xb, qkv, q, attnOut, proj, hidden: FloatBuffer
    private let attention: AttentionScratch

    init(model: Model, capacity: Int, maxBatch: Int) throws {
        let c = model.config
        config = c
        let d = c.hiddenSize, hd = c.headDim
        wte = try WeightCheck.matrix(model, "transformer.wte.weight", columns: d)
        wpe = try WeightCheck.matrix(model, "transformer.wpe.weight", columns: d)
        guard capacity <= wpe.shape[0] else {
            throw LLMOptError.invalidArgument(name: "capacity", reason: "GPT-2 has \(wpe.shape[0]) learned positions; cannot hold \(capacity)")
        }
        embeddingRows = wte.shape[0]
        lnfw = try WeightCheck.vector(model, "transformer.ln_f.weight", count: d)
        lnfb = try WeightCheck.vector(model, "transformer.ln_f.bias", count: d)
        if model["lm_head.weight"] != nil {
            headName = "lm_head.weight"
            head = try WeightCheck.matrix(model, headName, columns: d)
        } else {
            headName = "transformer.wte.weight"
            head = wte
        }
        vocabSize = head.shape[0]
        var layers: [Layer] = []
        for l in 0..<c.numLayers {
            let p = "transformer.h.\(l)."
            let names = (attn: p + "attn.c_attn.weight", attnProj: p + "attn.c_proj.weight",
                         fc: p + "mlp.c_fc.weight", mlpProj: p + "mlp.c_proj.weight")
            let attn = try WeightCheck.matrix(model, names.attn, columns: d)
            guard attn.shape[0] % (3 * hd) == 0, attn.shape[0] > 0 else {
                throw LLMOptError.shapeMismatch(name: names.attn, expected: [3 * c.numHeads * hd, d], actual: attn.shape, source: model.sourcePath ?? "model")
            }
            let heads = attn.shape[0] / (3 * hd)
            let fc = try WeightCheck.matrix(model, names.fc, columns: d)
            let ffn = fc.shape[0]
            layers.append(Layer(
                index: l,
                ln1w: try WeightCheck.vector(model, p + "ln_1.weight", count: d),
                ln1b: try WeightCheck.vector(model, p + "ln_1.bias", count: d),
                ln2w: try WeightCheck.vector(model, p + "ln_2.weight", count: d),
                ln2b: try WeightCheck.vector(model, p + "ln_2.bias", count: d),
                attn: attn, attnBias: try WeightCheck.vector(model, p + "attn.c_attn.bias", count: 3 * heads * hd),
                attnProj: try WeightCheck.tensor(model, names.attnProj, shape: [d, heads * hd]),
                attnProjBias: try WeightCheck.vector(model, p + "attn.c_proj.bias", count: d),
                fc: fc, fcBias: try WeightCheck.vector(model, p + "mlp.c_fc.bias", count: ffn),
                mlpProj: try WeightCheck.tensor(model, names.mlpProj, shape: [d, ffn]),
                mlpProjBias: try WeightCheck.vector(model, p + "mlp.c_proj.bias", count: d),
                heads: heads, ffn: ffn, names: names))
        }
        self.layers = layers
        self.maxBatch = maxBatch
        cache = KVCache(capacity: capacity, widths: layers.map { $0.heads * hd })
        let qMax = layers.map { $0.heads * hd }.max() ?? 0
        x = FloatBuffer(count: maxBatch * d)
        xb = FloatBuffer(count: maxBatch * d)
        qkv = FloatBuffer(count: maxBatch * 3 * qMax)
        q = FloatBuffer(count: maxBatch * qMax)
        attnOut = FloatBuffer(count: maxBatch * qMax)
        proj = FloatBuffer(count: maxBatch * d)
        hidden = FloatBuffer(count: maxBatch * (layers.map(\.ffn).max() ?? 0))
        attention = AttentionScratch(capacity: capacity, maxHeads: layers.map(\.heads).max() ?? 0, headDim: hd)
    }

    var blockCount: Int { layers.count }
    var residualStream: UnsafeMutablePointer<Float> { x.pointer }
    var normedRows: UnsafeMutablePointer<Float> { xb.pointer }

    func finalNorm(_ out: UnsafeMutablePointer<Float>, _ hidden: UnsafePointer<Float>, rows: Int) {
        layerNormForward(out, hidden, weight: lnfw.f32Pointer, bias: lnfb.f32Pointer, rows: rows, dim: config.hiddenSize, eps: config.normEps)
    }

    func embed(_ tokens: ArraySlice<Int>, position: Int, into x: UnsafeMutablePointer<Float>) {
        let n = tokens.count, d = config.hiddenSize, xb = xb.pointer
        embeddingForward(x, table: wte, tokens: tokens)
        let positions = Tensor(shape: [n, d], dtype: wpe.dtype, storage: wpe.storage,
                               byteOffset: wpe.byteOffset + position * wpe.rowBytes)
        embeddingForward(xb, table: positions, tokens: 0..<n)
        residualForward(x, xb, count: n * d)
    }

    func block(_ index: Int, hidden: UnsafeMutablePointer<Float>, rows: Int, position: Int, hooks: ForwardHooks) {
        block(layers[index], hidden: hidden, rows: rows, position: position, hooks: hooks)
    }

    /// One transformer block over `n` rows of the residual stream `x`, in place.
    private func block(_ layer: Layer, hidden x: UnsafeMutablePointer<Float>, rows n: Int, position: Int, hooks: ForwardHooks) {
        let d = config.hiddenSize, hd = config.headDim, eps = config.normEps
        let xb = xb.pointer, qkv = qkv.pointer, q = q.pointer
        let attnOut = attnOut.pointer, proj = proj.pointer, hidden = hidden.pointer
            let width = layer.heads * hd
            let keys = cache.keys[layer.index].pointer, values = cache.values[layer.index].pointer

            // Attention block: x += c_proj(attention(split(c_attn(ln_1(x)))))
            layerNormForward(xb, x, weight: layer.ln1w.f32Pointer, bias: layer.ln1b.f32Pointer, rows: n, dim: d, eps: eps)
            hooks.observe(layer.names.attn, xb, rows: n, cols: d)
            Linear.forward(xb, rows: n, weight: layer.attn, into: qkv)
            addBiasForward(qkv, bias: layer.attnBias.f32Pointer, rows: n, count: 3 * width)
            for t in 0..<n {
                let row = qkv + t * 3 * width
                (q + t * width).update(from: row, count: width)
                (keys + (position + t) * width).update(from: row + width, count: width)
                (values + (position + t) * width).update(from: row + 2 * width, count: width)
            }
            attentionForward(
                attnOut, q: q, keys: keys, values: values, scratch: attention, tokens: n, position: position,
                heads: layer.heads, kvHeads: layer.heads, headDim: hd)
            hooks.observe(layer.names.attnProj, attnOut, rows: n, cols: width)
            Linear.forward(attnOut, rows: n, weight: layer.attnProj, into: proj)
            addBiasForward(proj, bias: layer.attnProjBias.f32Pointer, rows: n, count: d)
            residualForward(x, proj, count: n * d)

            // MLP block: x += c_proj(gelu(c_fc(ln_2(x))))
            layerNormForward(xb, x, weight: layer.ln2w.f32Pointer, bias: layer.ln2b.f32Pointer, rows: n, dim: d, eps: eps)
            hooks.observe(layer.names.fc, xb, rows: n, cols: d)
            Linear.forward(xb, rows: n, weight: layer.fc, into: hidden)
            addBiasForward(hidden, bias: layer.fcBias.f32Pointer, rows: n, count: layer.ffn)
            geluTanhForward(hidden, count: n * layer.ffn)
            hooks.observe(layer.names.mlpProj, hidden, rows: n, cols: layer.ffn)
            Linear.forward(hidden, rows: n, weight: layer.mlpProj, into: proj)
            addBiasForward(proj, bias: layer.mlpProjBias.f32Pointer, rows: n, count: d)
            residualForward(x, proj, count: n * d)
        }
}
