extension Architecture {
    public static let llama = Architecture(registering: "llama")
}

/// Llama 1/2/3, SmolLM, TinyLlama, llama2.c's stories models: RMSNorm, rotary embeddings,
/// grouped-query attention, SwiGLU MLP, optionally tied head.
///
/// llama.cpp's converter permutes the q/k rows of Llama checkpoints so that rotary pairs are
/// adjacent rows (2i, 2i+1), and runs Llama with its "normal" (interleaved) RoPE: models loaded
/// from GGUF keep the weights as stored and say `ropeInterleaved = true`; savers permute the
/// rows when the target format wants the other layout.
public struct LlamaFamily: ModelFamily, ForwardRunnerFactory {
    public init() {}
    public var architecture: Architecture { .llama }
    public var displayName: String { "Llama" }
    public var huggingFaceClasses: [String] { ["LlamaForCausalLM"] }
    public var huggingFaceModelType: String { "llama" }
    public var startsWithBOS: Bool { true }

    public var names: TensorNameMap {
        TensorNameMap(
            layerPrefix: "model.layers.", embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight",
            global: Self.globalNames, layer: Self.layerNames)
    }

    /// llama.cpp's names of the model's own tensors, shared by Llama's relatives.
    static let globalNames: [(gguf: String, hf: String)] = [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ]

    /// llama.cpp's names of a block's tensors.
    static let layerNames: [(gguf: String, hf: String)] = [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
    ]

    public var trainingBlock: TrainingBlock? { .rotarySwiGLU }
    public var block: BlockTopology { Self.block }

    static let block = BlockTopology(
        attention: .separate(q: "self_attn.q_proj.weight", k: "self_attn.k_proj.weight", v: "self_attn.v_proj.weight"),
        attentionNorm: .init(weight: "input_layernorm.weight"), attentionOutput: "self_attn.o_proj.weight",
        mlpNorm: .init(weight: "post_attention_layernorm.weight"),
        mlpInputs: ["mlp.gate_proj.weight", "mlp.up_proj.weight"], mlpOutput: "mlp.down_proj.weight",
        mlpLinearInput: "mlp.up_proj.weight", mlpActivation: "silu(gate x) * up x")

    public var scriptNames: [(field: String, tensor: String)] { Self.scriptNames }
    public var scriptLayerNames: [(suffix: String, group: String?, field: String)] { Self.scriptLayerNames }

    static let scriptNames: [(field: String, tensor: String)] =
        [("embedding", "model.embed_tokens.weight"), ("norm", "model.norm.weight"), ("lm_head", "lm_head.weight")]

    static let scriptLayerNames: [(suffix: String, group: String?, field: String)] =
        [("self_attn.q_proj.weight", "attention", "wq"), ("self_attn.k_proj.weight", "attention", "wk"),
         ("self_attn.v_proj.weight", "attention", "wv"), ("self_attn.o_proj.weight", "attention", "wo"),
         ("mlp.gate_proj.weight", "mlp", "gate"), ("mlp.up_proj.weight", "mlp", "up"), ("mlp.down_proj.weight", "mlp", "down"),
         ("input_layernorm.weight", nil, "attention_norm"), ("post_attention_layernorm.weight", nil, "mlp_norm")]

    public func config(huggingFace r: HuggingFaceConfigReader) throws -> ModelConfig {
        if let act = r.string("hidden_act"), act != "silu" {
            throw LLMOptError.unsupported("\(r.path): hidden_act '\(act)' is not supported (Llama uses silu)")
        }
        if r.bool("attention_bias") == true || r.bool("mlp_bias") == true {
            throw LLMOptError.unsupported("\(r.path): Llama with attention or MLP biases is not supported")
        }
        return try Self.config(huggingFace: r, architecture: architecture)
    }

    /// The config of a Llama-shaped family (Llama's keys and defaults) from `config.json`.
    static func config(huggingFace r: HuggingFaceConfigReader, architecture: Architecture) throws -> ModelConfig {
        let heads = try r.need("num_attention_heads")
        return ModelConfig(
            architecture: architecture, vocabSize: try r.need("vocab_size"), hiddenSize: try r.need("hidden_size"),
            intermediateSize: try r.need("intermediate_size"),
            numLayers: try r.need("num_hidden_layers"), numHeads: heads,
            numKVHeads: try r.int("num_key_value_heads") ?? heads, headDim: try r.int("head_dim"),
            maxPositions: try r.int("max_position_embeddings") ?? 2048, normEps: try r.float("rms_norm_eps") ?? 1e-6,
            ropeTheta: try r.ropeTheta(default: 10000), ropeInterleaved: false,
            tieEmbeddings: r.bool("tie_word_embeddings") ?? false,
            bosTokenId: r.tokenId("bos_token_id"), eosTokenId: r.tokenId("eos_token_id"))
    }

    public func huggingFaceConfig(_ c: ModelConfig) -> [String: Any] {
        Self.llamaConfigKeys(c).merging(["hidden_act": "silu", "attention_bias": false, "mlp_bias": false]) { _, new in new }
    }

    /// The `config.json` keys every Llama-shaped family shares.
    static func llamaConfigKeys(_ c: ModelConfig) -> [String: Any] {
        ["hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize, "num_hidden_layers": c.numLayers,
         "num_attention_heads": c.numHeads, "num_key_value_heads": c.numKVHeads, "head_dim": c.headDim,
         "max_position_embeddings": c.maxPositions, "rms_norm_eps": HuggingFaceFolder.shortest(c.normEps),
         "rope_theta": HuggingFaceFolder.shortest(c.ropeTheta)]
    }

    public func config(gguf r: GGUFConfigReader) throws -> ModelConfig {
        try Self.config(gguf: r, architecture: architecture, interleaved: true)
    }

    /// The config of a Llama-shaped family from GGUF metadata; `interleaved`: llama.cpp's
    /// converter permuted the q/k rows (Llama; not Qwen2, which runs NeoX-style RoPE).
    static func config(gguf r: GGUFConfigReader, architecture: Architecture, interleaved: Bool) throws -> ModelConfig {
        let hidden = try r.need("embedding_length"), heads = try r.need("attention.head_count")
        let headDim = try r.int("attention.key_length") ?? hidden / heads
        try r.checkRoPE(headDim: headDim)
        return ModelConfig(
            architecture: architecture, vocabSize: try r.vocabularySize(), hiddenSize: hidden,
            intermediateSize: try r.need("feed_forward_length"), numLayers: try r.need("block_count"),
            numHeads: heads, numKVHeads: try r.int("attention.head_count_kv") ?? heads, headDim: headDim,
            maxPositions: try r.int("context_length") ?? 2048,
            normEps: r.float("attention.layer_norm_rms_epsilon") ?? 1e-5,
            ropeTheta: r.float("rope.freq_base") ?? 10000, ropeInterleaved: interleaved,
            tieEmbeddings: r.tied, bosTokenId: r.bosTokenId, eosTokenId: r.eosTokenId)
    }

    public func ggufMetadata(_ c: ModelConfig, widths: [LayerWidths]) -> [(String, GGUFValue)] {
        Self.ggufMetadata(c, widths: widths)
    }

    /// The `<arch>.*` keys every Llama-shaped family shares.
    static func ggufMetadata(_ c: ModelConfig, widths: [LayerWidths]) -> [(String, GGUFValue)] {
        var kv: [(String, GGUFValue)] = [
            ("attention.head_count_kv", .perLayer(widths.map(\.kvHeads), nominal: c.numKVHeads)),
            ("rope.freq_base", .float32(c.ropeTheta)),
            ("attention.layer_norm_rms_epsilon", .float32(c.normEps)),
            ("rope.dimension_count", .uint32(UInt32(c.headDim))),
        ]
        if c.headDim * c.numHeads != c.hiddenSize || Set(widths.map(\.heads)).count > 1 {
            kv += [("attention.key_length", .uint32(UInt32(c.headDim))), ("attention.value_length", .uint32(UInt32(c.headDim)))]
        }
        kv.append(("vocab_size", .uint32(UInt32(c.vocabSize))))
        return kv
    }

    public func problem(with c: ModelConfig) -> String? {
        c.headDim % 2 == 0 ? nil : "RoPE needs an even head dimension, got \(c.headDim)"
    }

    public func tensors(_ c: ModelConfig, widths: (Int) -> LayerWidths) -> [(name: String, shape: [Int])] {
        Self.tensors(c, widths: widths)
    }

    /// The tensors of a Llama-shaped model; `qkvBias`: with biases on q, k and v (Qwen2).
    static func tensors(_ c: ModelConfig, widths: (Int) -> LayerWidths, qkvBias: Bool = false) -> [(name: String, shape: [Int])] {
        let d = c.hiddenSize, hd = c.headDim
        var out: [(name: String, shape: [Int])] = [("model.embed_tokens.weight", [c.vocabSize, d])]
        for l in 0..<c.numLayers {
            let p = "model.layers.\(l).", w = widths(l)
            out += [
                (p + "input_layernorm.weight", [d]),
                (p + "self_attn.q_proj.weight", [w.heads * hd, d]),
                (p + "self_attn.k_proj.weight", [w.kvHeads * hd, d]),
                (p + "self_attn.v_proj.weight", [w.kvHeads * hd, d]),
            ]
            if qkvBias {
                out += [(p + "self_attn.q_proj.bias", [w.heads * hd]), (p + "self_attn.k_proj.bias", [w.kvHeads * hd]),
                        (p + "self_attn.v_proj.bias", [w.kvHeads * hd])]
            }
            out += [
                (p + "self_attn.o_proj.weight", [d, w.heads * hd]),
                (p + "post_attention_layernorm.weight", [d]),
                (p + "mlp.gate_proj.weight", [w.ffn, d]),
                (p + "mlp.up_proj.weight", [w.ffn, d]),
                (p + "mlp.down_proj.weight", [d, w.ffn]),
            ]
        }
        out.append(("model.norm.weight", [d]))
        if !c.tieEmbeddings { out.append(("lm_head.weight", [c.vocabSize, d])) }
        return out
    }

    public func toHuggingFace(_ name: String, _ t: Tensor, config c: ModelConfig) throws -> Tensor {
        guard c.ropeInterleaved, Self.isRotated(name) else { return t }
        return try RopeLayout.toRotateHalf(t, headDim: c.headDim, name: name)
    }

    public func toGGUF(_ name: String, _ t: Tensor, config c: ModelConfig) throws -> Tensor {
        guard !c.ropeInterleaved, Self.isRotated(name) else { return t }
        return try RopeLayout.toInterleaved(t, headDim: c.headDim, name: name)
    }

    /// The projections whose output rows RoPE rotates in pairs.
    static func isRotated(_ name: String) -> Bool {
        name.hasSuffix("self_attn.q_proj.weight") || name.hasSuffix("self_attn.k_proj.weight")
    }

    func makeRunner(model: Model, capacity: Int, maxBatch: Int) throws -> any ModelRunner {
        try LlamaRunner(model: model, capacity: capacity, maxBatch: maxBatch)
    }
}

/// What Llama's relatives change in its block, so that Qwen2, Mistral and Gemma 3 run on the
/// Llama runner and their files hold only their description. Biases on the projections are
/// used wherever the model has them; the window and RoPE bases come from the config.
struct LlamaVariant {
    /// The norm before the MLP.
    var mlpNorm = "post_attention_layernorm.weight"
    /// Norms applied to the attention and MLP outputs before the residual add (Gemma).
    var postAttentionNorm: String?
    var postMLPNorm: String?
    /// RMSNorm over each head of q and k before RoPE (Gemma 3).
    var queryNorm: String?
    var keyNorm: String?
    /// RMSNorm scales by (offset + w): Gemma stores w − 1.
    var normOffset: Float = 0
    /// The residual stream starts as the embedding times √hidden (Gemma).
    var scalesEmbedding = false
    /// The gated MLP's activation: silu(gate)·up, or gelu_tanh(gate)·up (Gemma).
    var geluGate = false

    static let llama = LlamaVariant()
}

/// The Llama forward pass (and its relatives', see `LlamaVariant`).
///
/// Per-layer sizes come from the weight shapes, so structurally pruned models (fewer heads or
/// FFN channels in some layers) run as they are: a layer's heads = q_proj rows / headDim.
final class LlamaRunner: ModelRunner {
    struct Layer {
        let index: Int
        let attnNorm, mlpNorm: Tensor
        let postAttnNorm, postMLPNorm, qNorm, kNorm: Tensor?
        let q, k, v, o, gate, up, down: Tensor
        let qBias, kBias, vBias, oBias: Tensor?
        let heads, kvHeads, ffn: Int
        let window: Int?
        let rope: RoPETable
        let names: [String]  // q, k, v, o, gate, up, down weight names for the observer
    }

    let config: ModelConfig
    let variant: LlamaVariant
    let embedding: Tensor
    let finalNormWeight: Tensor
    let head: Tensor
    let headName: String
    let layers: [Layer]
    let vocabSize: Int
    let embeddingRows: Int
    let maxBatch: Int
    let cache: KVCache
    let attentionScale: Float

    // Scratch activations, allocated once: [maxBatch, width].
    private let x, xb, q, attnOut, proj, gate, up: FloatBuffer
    private let attention: AttentionScratch

    init(model: Model, capacity: Int, maxBatch: Int, variant: LlamaVariant = .llama) throws {
        let c = model.config
        config = c
        self.variant = variant
        let d = c.hiddenSize, hd = c.headDim
        guard hd > 0, hd % 2 == 0 else {
            throw LLMOptError.invalidArgument(name: "headDim", reason: "\(c.architecture.family.displayName) head size must be even and positive, got \(hd)")
        }
        let names = c.architecture.family.names
        /// A norm scale as the kernel multiplies by it: (offset + w).
        func norm(_ name: String, count: Int) throws -> Tensor {
            let w = try WeightCheck.vector(model, name, count: count)
            guard variant.normOffset != 0 else { return w }
            let offset = variant.normOffset
            return Tensor(shape: w.shape, floats: w.floats().map { $0 + offset })
        }
        func bias(_ weight: String, count: Int) throws -> Tensor? {
            let name = weight.replacingSuffix(".weight", with: ".bias")
            return model[name] == nil ? nil : try WeightCheck.vector(model, name, count: count)
        }
        embedding = try WeightCheck.matrix(model, names.embedding, columns: d)
        embeddingRows = embedding.shape[0]
        finalNormWeight = try norm(names.finalNorm, count: d)
        if model[names.head] != nil {
            headName = names.head
            head = try WeightCheck.matrix(model, headName, columns: d)
        } else {
            headName = names.embedding
            head = embedding
        }
        vocabSize = head.shape[0]
        var ropes: [Float: RoPETable] = [:]
        var layers: [Layer] = []
        for l in 0..<c.numLayers {
            let p = names.prefix(l)
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
            let theta = c.ropeTheta(layer: l)
            if ropes[theta] == nil { ropes[theta] = RoPETable(positions: capacity, headDim: hd, theta: theta) }
            layers.append(Layer(
                index: l,
                attnNorm: try norm(p + "input_layernorm.weight", count: d),
                mlpNorm: try norm(p + variant.mlpNorm, count: d),
                postAttnNorm: try variant.postAttentionNorm.map { try norm(p + $0, count: d) },
                postMLPNorm: try variant.postMLPNorm.map { try norm(p + $0, count: d) },
                qNorm: try variant.queryNorm.map { try norm(p + $0, count: hd) },
                kNorm: try variant.keyNorm.map { try norm(p + $0, count: hd) },
                q: q, k: k, v: v, o: o, gate: gate, up: up, down: down,
                qBias: try bias(names[0], count: heads * hd), kBias: try bias(names[1], count: kvHeads * hd),
                vBias: try bias(names[2], count: kvHeads * hd), oBias: try bias(names[3], count: d),
                heads: heads, kvHeads: kvHeads, ffn: ffn, window: c.window(layer: l), rope: ropes[theta]!, names: names))
        }
        self.layers = layers
        self.maxBatch = maxBatch
        attentionScale = 1 / (c.queryPreAttentionScalar ?? Float(hd)).squareRoot()
        cache = KVCache(capacity: capacity, widths: layers.map { $0.kvHeads * hd }, windows: layers.map(\.window), maxBatch: maxBatch)
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
        if variant.scalesEmbedding {
            // As transformers does: √d rounded to float32 once.
            let scale = Float(Double(config.hiddenSize).squareRoot())
            for i in 0..<(tokens.count * config.hiddenSize) { hidden[i] *= scale }
        }
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
        // Windowed layers keep a bounded cache: attention runs over its rows, from `row`.
        let row = cache.row(layer: layer.index, position: position, count: n)
        let keys = cache.keys[layer.index].pointer + row * kvWidth
        let values = cache.values[layer.index].pointer + row * kvWidth

        // Attention block: x += o(attention(rope(q(norm(x))), rope(k(...)), v(...)))
        rmsNormForward(xb, x, weight: layer.attnNorm.f32Pointer, rows: n, dim: d, eps: eps)
        for name in layer.names[0..<3] { hooks.observe(name, xb, rows: n, cols: d) }
        Linear.forward(xb, rows: n, weights: [layer.q, layer.k, layer.v], into: [q, keys, values])
        if let b = layer.qBias { addBiasForward(q, bias: b.f32Pointer, rows: n, count: qWidth) }
        if let b = layer.kBias { addBiasForward(keys, bias: b.f32Pointer, rows: n, count: kvWidth) }
        if let b = layer.vBias { addBiasForward(values, bias: b.f32Pointer, rows: n, count: kvWidth) }
        if let w = layer.qNorm { rmsNormForward(q, q, weight: w.f32Pointer, rows: n * layer.heads, dim: hd, eps: eps) }
        if let w = layer.kNorm { rmsNormForward(keys, keys, weight: w.f32Pointer, rows: n * layer.kvHeads, dim: hd, eps: eps) }
        for t in 0..<n {
            ropeForward(q + t * qWidth, heads: layer.heads, table: layer.rope, pos: position + t, interleaved: config.ropeInterleaved)
            ropeForward(keys + t * kvWidth, heads: layer.kvHeads, table: layer.rope, pos: position + t, interleaved: config.ropeInterleaved)
        }
        attentionForward(
            attnOut, q: q, keys: cache.keys[layer.index].pointer, values: cache.values[layer.index].pointer,
            scratch: attention, tokens: n, position: row, heads: layer.heads, kvHeads: layer.kvHeads,
            headDim: hd, window: layer.window, scale: attentionScale)
        hooks.observe(layer.names[3], attnOut, rows: n, cols: qWidth)
        Linear.forward(attnOut, rows: n, weight: layer.o, into: proj)
        if let b = layer.oBias { addBiasForward(proj, bias: b.f32Pointer, rows: n, count: d) }
        if let w = layer.postAttnNorm { rmsNormForward(proj, proj, weight: w.f32Pointer, rows: n, dim: d, eps: eps) }
        residualForward(x, proj, count: n * d)

        // MLP block: x += down(act(gate(norm(x))) * up(norm(x)))
        rmsNormForward(xb, x, weight: layer.mlpNorm.f32Pointer, rows: n, dim: d, eps: eps)
        hooks.observe(layer.names[4], xb, rows: n, cols: d)
        hooks.observe(layer.names[5], xb, rows: n, cols: d)
        Linear.forward(xb, rows: n, weights: [layer.gate, layer.up], into: [gate, up])
        if variant.geluGate {
            geluTanhForward(gate, count: n * layer.ffn)
            for i in 0..<(n * layer.ffn) { gate[i] *= up[i] }
        } else {
            swigluForward(gate, up: up, count: n * layer.ffn)
        }
        hooks.observe(layer.names[6], gate, rows: n, cols: layer.ffn)
        Linear.forward(gate, rows: n, weight: layer.down, into: proj)
        if let w = layer.postMLPNorm { rmsNormForward(proj, proj, weight: w.f32Pointer, rows: n, dim: d, eps: eps) }
        residualForward(x, proj, count: n * d)
    }
}
