extension Architecture {
    public static let gpt2 = Architecture(registering: "gpt2")
}

/// GPT-2: learned position embeddings, LayerNorm with bias, fused q/k/v projection (`c_attn`),
/// GELU (tanh approximation) MLP, head tied to `wte`. Checkpoints store Conv1D weights `[in, out]`;
/// the engine holds them `[out, in]` like every other linear.
public struct GPT2Family: ModelFamily, ForwardRunnerFactory {
    public init() {}
    public var architecture: Architecture { .gpt2 }
    public var displayName: String { "GPT-2" }
    public var huggingFaceClasses: [String] { ["GPT2LMHeadModel"] }
    public var huggingFaceModelType: String { "gpt2" }

    public var names: TensorNameMap {
        TensorNameMap(
            layerPrefix: "transformer.h.", embedding: "transformer.wte.weight", positions: "transformer.wpe.weight",
            finalNorm: "transformer.ln_f.weight", finalNormBias: "transformer.ln_f.bias",
            global: [
                ("token_embd.weight", "transformer.wte.weight"),
                ("position_embd.weight", "transformer.wpe.weight"),
                ("output_norm.weight", "transformer.ln_f.weight"),
                ("output_norm.bias", "transformer.ln_f.bias"),
                ("output.weight", "lm_head.weight"),
            ],
            layer: [
                ("attn_norm.weight", "ln_1.weight"), ("attn_norm.bias", "ln_1.bias"),
                ("attn_qkv.weight", "attn.c_attn.weight"), ("attn_qkv.bias", "attn.c_attn.bias"),
                ("attn_output.weight", "attn.c_proj.weight"), ("attn_output.bias", "attn.c_proj.bias"),
                ("ffn_norm.weight", "ln_2.weight"), ("ffn_norm.bias", "ln_2.bias"),
                ("ffn_up.weight", "mlp.c_fc.weight"), ("ffn_up.bias", "mlp.c_fc.bias"),
                ("ffn_down.weight", "mlp.c_proj.weight"), ("ffn_down.bias", "mlp.c_proj.bias"),
            ])
    }

    public var trainingBlock: TrainingBlock? { .learnedPositionsGELU }
    public var block: BlockTopology {
        BlockTopology(
            attention: .fused(qkv: "attn.c_attn.weight"),
            attentionNorm: .init(weight: "ln_1.weight", bias: "ln_1.bias"), attentionOutput: "attn.c_proj.weight",
            mlpNorm: .init(weight: "ln_2.weight", bias: "ln_2.bias"),
            mlpInputs: ["mlp.c_fc.weight"], mlpOutput: "mlp.c_proj.weight", mlpLinearInput: nil,
            mlpActivation: "gelu(c_fc x)")
    }

    public var scriptNames: [(field: String, tensor: String)] {
        [("embedding", "transformer.wte.weight"), ("positions", "transformer.wpe.weight"),
         ("norm", "transformer.ln_f.weight"), ("norm_bias", "transformer.ln_f.bias"), ("lm_head", "lm_head.weight")]
    }

    public var scriptLayerNames: [(suffix: String, group: String?, field: String)] {
        [("attn.c_attn.weight", "attention", "qkv"), ("attn.c_attn.bias", "attention", "qkv_bias"),
         ("attn.c_proj.weight", "attention", "wo"), ("attn.c_proj.bias", "attention", "wo_bias"),
         ("mlp.c_fc.weight", "mlp", "up"), ("mlp.c_fc.bias", "mlp", "up_bias"),
         ("mlp.c_proj.weight", "mlp", "down"), ("mlp.c_proj.bias", "mlp", "down_bias"),
         ("ln_1.weight", nil, "attention_norm"), ("ln_1.bias", nil, "attention_norm_bias"),
         ("ln_2.weight", nil, "mlp_norm"), ("ln_2.bias", nil, "mlp_norm_bias")]
    }

    public func config(huggingFace r: HuggingFaceConfigReader) throws -> ModelConfig {
        let d = try r.need("n_embd"), heads = try r.need("n_head")
        return ModelConfig(
            architecture: .gpt2, vocabSize: try r.need("vocab_size"), hiddenSize: d,
            intermediateSize: try r.int("n_inner") ?? 4 * d, numLayers: try r.need("n_layer"),
            numHeads: heads, numKVHeads: heads, maxPositions: try r.int("n_positions") ?? 1024,
            normEps: try r.float("layer_norm_epsilon") ?? 1e-5, tieEmbeddings: r.bool("tie_word_embeddings") ?? true,
            bosTokenId: r.tokenId("bos_token_id"), eosTokenId: r.tokenId("eos_token_id"))
    }

    public func huggingFaceConfig(_ c: ModelConfig) -> [String: Any] {
        ["n_embd": c.hiddenSize, "n_inner": c.intermediateSize, "n_layer": c.numLayers, "n_head": c.numHeads,
         "n_positions": c.maxPositions, "layer_norm_epsilon": HuggingFaceFolder.shortest(c.normEps),
         "activation_function": "gelu_new"]
    }

    public func config(gguf r: GGUFConfigReader) throws -> ModelConfig {
        let hidden = try r.need("embedding_length"), heads = try r.need("attention.head_count")
        return ModelConfig(
            architecture: .gpt2, vocabSize: try r.vocabularySize(), hiddenSize: hidden,
            intermediateSize: try r.int("feed_forward_length") ?? 4 * hidden, numLayers: try r.need("block_count"),
            numHeads: heads, numKVHeads: heads, maxPositions: try r.need("context_length"),
            normEps: r.float("attention.layer_norm_epsilon") ?? 1e-5,
            tieEmbeddings: r.tied, bosTokenId: r.bosTokenId, eosTokenId: r.eosTokenId)
    }

    public func ggufMetadata(_ c: ModelConfig, widths: [LayerWidths]) -> [(String, GGUFValue)] {
        [("attention.layer_norm_epsilon", .float32(c.normEps))]
    }

    public func problem(with c: ModelConfig) -> String? {
        c.headDim * c.numHeads == c.hiddenSize ? nil : "GPT-2 needs n_embd \(c.hiddenSize) divisible by n_head \(c.numHeads)"
    }

    public func tensors(_ c: ModelConfig, widths: (Int) -> LayerWidths) -> [(name: String, shape: [Int])] {
        let d = c.hiddenSize, hd = c.headDim
        var out: [(name: String, shape: [Int])] = [("transformer.wte.weight", [c.vocabSize, d]), ("transformer.wpe.weight", [c.maxPositions, d])]
        for l in 0..<c.numLayers {
            let p = names.prefix(l), w = widths(l), a = w.heads * hd
            out += [
                (p + "ln_1.weight", [d]), (p + "ln_1.bias", [d]),
                (p + "attn.c_attn.weight", [3 * a, d]), (p + "attn.c_attn.bias", [3 * a]),
                (p + "attn.c_proj.weight", [d, a]), (p + "attn.c_proj.bias", [d]),
                (p + "ln_2.weight", [d]), (p + "ln_2.bias", [d]),
                (p + "mlp.c_fc.weight", [w.ffn, d]), (p + "mlp.c_fc.bias", [w.ffn]),
                (p + "mlp.c_proj.weight", [d, w.ffn]), (p + "mlp.c_proj.bias", [d]),
            ]
        }
        out += [("transformer.ln_f.weight", [d]), ("transformer.ln_f.bias", [d])]
        if !c.tieEmbeddings { out.append(("lm_head.weight", [c.vocabSize, d])) }
        return out
    }

    /// Checkpoints come with or without the `transformer.` prefix and may store the causal-mask
    /// buffers `h.N.attn.bias` / `attn.masked_bias`, which the engine recomputes.
    public func huggingFaceName(_ name: String) -> String? {
        let full = (name.hasPrefix("transformer.") || name == "lm_head.weight") ? name : "transformer." + name
        if full.hasSuffix(".attn.bias") || full.hasSuffix(".attn.masked_bias") { return nil }
        return full
    }

    public func fromHuggingFace(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor {
        guard Self.isConv1D(name) else { return t }
        guard t.rank == 2 else { throw LLMOptError.invalidArgument(name: name, reason: "should have two dimensions, has \(t.shape)") }
        return HuggingFaceFolder.transposed(t)
    }

    public func toHuggingFace(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor {
        Self.isConv1D(name) ? HuggingFaceFolder.transposed(t) : t
    }

    /// GPT-2's Conv1D layers store `[in, out]`; the engine wants `[out, in]`.
    static func isConv1D(_ name: String) -> Bool {
        name.hasSuffix(".weight") && (name.contains(".attn.c_attn.") || name.contains(".attn.c_proj.") || name.contains(".mlp.c_fc.") || name.contains(".mlp.c_proj."))
    }

    func makeRunner(model: Model, capacity: Int, maxBatch: Int) throws -> any ModelRunner {
        try GPT2Runner(model: model, capacity: capacity, maxBatch: maxBatch)
    }
}

/// The GPT-2 forward pass. Linear weights are `[out, in]` (the loader transposes GPT-2's Conv1D). A layer's heads are
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
