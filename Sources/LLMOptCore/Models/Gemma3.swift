extension Architecture {
    public static let gemma3 = Architecture(registering: "gemma3")
}

/// Gemma 3 (text): Llama's block with the embedding scaled by √hidden, RMSNorm as x·(1 + w),
/// norms before and after both attention and MLP, RMSNorm over each head of q and k, a
/// GELU-tanh gated MLP, scores scaled by 1/√query_pre_attn_scalar, and sliding-window layers
/// (RoPE base 10 000) interleaved with full ones (base 10⁶); the head is tied.
///
/// llama.cpp stores the norm scales as 1 + w (converted on the way in and out) and finds the
/// local layers by its pattern (every sixth layer is global) unless the file lists them.
public struct Gemma3Family: ModelFamily, ForwardRunnerFactory {
    public init() {}
    public var architecture: Architecture { .gemma3 }
    public var displayName: String { "Gemma 3" }
    public var huggingFaceClasses: [String] { ["Gemma3ForCausalLM"] }
    public var huggingFaceModelType: String { "gemma3_text" }
    public var startsWithBOS: Bool { true }

    /// llama.cpp's fixed pattern: layer i is global when (i + 1) is a multiple of 6.
    static let globalEvery = 6
    static let localRopeTheta: Float = 10000

    public var names: TensorNameMap {
        TensorNameMap(
            layerPrefix: "model.layers.", embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight",
            global: LlamaFamily.globalNames,
            layer: [
                ("attn_norm.weight", "input_layernorm.weight"),
                ("attn_q.weight", "self_attn.q_proj.weight"),
                ("attn_k.weight", "self_attn.k_proj.weight"),
                ("attn_v.weight", "self_attn.v_proj.weight"),
                ("attn_q_norm.weight", "self_attn.q_norm.weight"),
                ("attn_k_norm.weight", "self_attn.k_norm.weight"),
                ("attn_output.weight", "self_attn.o_proj.weight"),
                ("post_attention_norm.weight", "post_attention_layernorm.weight"),
                ("ffn_norm.weight", "pre_feedforward_layernorm.weight"),
                ("ffn_gate.weight", "mlp.gate_proj.weight"),
                ("ffn_up.weight", "mlp.up_proj.weight"),
                ("ffn_down.weight", "mlp.down_proj.weight"),
                ("post_ffw_norm.weight", "post_feedforward_layernorm.weight"),
            ])
    }

    static let variant = LlamaVariant(
        mlpNorm: "pre_feedforward_layernorm.weight", postAttentionNorm: "post_attention_layernorm.weight",
        postMLPNorm: "post_feedforward_layernorm.weight", queryNorm: "self_attn.q_norm.weight", keyNorm: "self_attn.k_norm.weight",
        normOffset: 1, scalesEmbedding: true, geluGate: true)

    public var block: BlockTopology {
        BlockTopology(
            attention: .separate(q: "self_attn.q_proj.weight", k: "self_attn.k_proj.weight", v: "self_attn.v_proj.weight"),
            attentionNorm: .init(weight: "input_layernorm.weight"), attentionOutput: "self_attn.o_proj.weight",
            mlpNorm: .init(weight: "pre_feedforward_layernorm.weight"),
            mlpInputs: ["mlp.gate_proj.weight", "mlp.up_proj.weight"], mlpOutput: "mlp.down_proj.weight",
            mlpLinearInput: "mlp.up_proj.weight",
            otherNorms: ["post_attention_layernorm.weight", "post_feedforward_layernorm.weight", "self_attn.q_norm.weight",
                         "self_attn.k_norm.weight"],
            mlpActivation: "gelu_tanh(gate x) * up x")
    }

    public var scriptNames: [(field: String, tensor: String)] { LlamaFamily.scriptNames }
    public var scriptLayerNames: [(suffix: String, group: String?, field: String)] {
        [("self_attn.q_proj.weight", "attention", "wq"), ("self_attn.k_proj.weight", "attention", "wk"),
         ("self_attn.v_proj.weight", "attention", "wv"), ("self_attn.o_proj.weight", "attention", "wo"),
         ("self_attn.q_norm.weight", "attention", "q_norm"), ("self_attn.k_norm.weight", "attention", "k_norm"),
         ("mlp.gate_proj.weight", "mlp", "gate"), ("mlp.up_proj.weight", "mlp", "up"), ("mlp.down_proj.weight", "mlp", "down"),
         ("input_layernorm.weight", nil, "attention_norm"), ("post_attention_layernorm.weight", nil, "attention_post_norm"),
         ("pre_feedforward_layernorm.weight", nil, "mlp_norm"), ("post_feedforward_layernorm.weight", nil, "mlp_post_norm")]
    }

    /// Norm scales are zero-centred (the kernel multiplies by 1 + w), so they start at zero.
    public func initialValue(of name: String) -> InitialValue {
        block.isNorm(name) || name == names.finalNorm ? .zeros : .normal
    }

    public func config(huggingFace r: HuggingFaceConfigReader) throws -> ModelConfig {
        if let act = r.string("hidden_activation") ?? r.string("hidden_act"), act != "gelu_pytorch_tanh" {
            throw LLMOptError.unsupported("\(r.path): activation '\(act)' is not supported (Gemma 3 uses gelu_pytorch_tanh)")
        }
        for key in ["final_logit_softcapping", "attn_logit_softcapping"] where try r.float(key) != nil {
            throw LLMOptError.unsupported("\(r.path): \(key) is not supported")
        }
        var c = try LlamaFamily.config(huggingFace: r, architecture: architecture)
        c.tieEmbeddings = r.bool("tie_word_embeddings") ?? true
        c.slidingWindow = try r.int("sliding_window")
        let n = c.numLayers
        if let types = r.json["layer_types"] as? [String] {
            guard types.count == n else {
                throw LLMOptError.badFile(path: r.path, reason: "'layer_types' lists \(types.count) layers, the model has \(n)")
            }
            c.slidingLayers = types.indices.filter { types[$0] == "sliding_attention" }
        } else {
            let every = try r.int("sliding_window_pattern") ?? Self.globalEvery
            c.slidingLayers = (0..<n).filter { ($0 + 1) % every != 0 }
        }
        // transformers 5 nests a RoPE setting per layer type; older configs have rope_theta and rope_local_base_freq.
        if let perType = r.json["rope_parameters"] as? [String: Any], let full = perType["full_attention"] as? [String: Any] {
            c.ropeTheta = try r.float("rope_theta", in: full) ?? 1_000_000
            c.ropeLocalTheta = try (perType["sliding_attention"] as? [String: Any]).flatMap { try r.float("rope_theta", in: $0) }
        } else {
            c.ropeTheta = try r.float("rope_theta") ?? 1_000_000
            c.ropeLocalTheta = try r.float("rope_local_base_freq")
        }
        c.ropeLocalTheta = c.ropeLocalTheta ?? Self.localRopeTheta
        c.queryPreAttentionScalar = try r.float("query_pre_attn_scalar")
        return c
    }

    public func huggingFaceConfig(_ c: ModelConfig) -> [String: Any] {
        var j = LlamaFamily.llamaConfigKeys(c)
        j["hidden_activation"] = "gelu_pytorch_tanh"
        j["rope_local_base_freq"] = HuggingFaceFolder.shortest(c.ropeLocalTheta ?? Self.localRopeTheta)
        if let w = c.slidingWindow { j["sliding_window"] = w }
        j["layer_types"] = (0..<c.numLayers).map { c.window(layer: $0) != nil ? "sliding_attention" : "full_attention" }
        if let s = c.queryPreAttentionScalar { j["query_pre_attn_scalar"] = HuggingFaceFolder.shortest(s) }
        return j
    }

    public func config(gguf r: GGUFConfigReader) throws -> ModelConfig {
        var c = try LlamaFamily.config(gguf: r, architecture: architecture, interleaved: false)
        c.ropeTheta = r.float("rope.freq_base") ?? 1_000_000
        c.ropeLocalTheta = Self.localRopeTheta
        c.normEps = r.float("attention.layer_norm_rms_epsilon") ?? 1e-6
        c.slidingWindow = try r.int("attention.sliding_window")
        if let pattern = r.file.metadata["gemma3.attention.sliding_window_pattern"]?.array?.compactMap(\.bool), pattern.count == c.numLayers {
            c.slidingLayers = pattern.indices.filter { pattern[$0] }
        } else {
            c.slidingLayers = (0..<c.numLayers).filter { ($0 + 1) % Self.globalEvery != 0 }
        }
        c.queryPreAttentionScalar = Float(c.headDim)
        return c
    }

    /// Llama's keys, the window, and which layers use it (one bool per layer), which llama.cpp
    /// would otherwise take from its fixed pattern.
    public func ggufMetadata(_ c: ModelConfig, widths: [LayerWidths]) -> [(String, GGUFValue)] {
        var kv = LlamaFamily.ggufMetadata(c, widths: widths)
        if let w = c.slidingWindow {
            kv.append(("attention.sliding_window", .uint32(UInt32(w))))
            kv.append(("attention.sliding_window_pattern",
                       .array(elementType: GGUFValueType.bool.rawValue, (0..<c.numLayers).map { .bool(c.window(layer: $0) != nil) })))
        }
        return kv
    }

    public func problem(with c: ModelConfig) -> String? {
        if let w = c.slidingWindow, w <= 0 { return "sliding window \(w) is not positive" }
        return LlamaFamily().problem(with: c)
    }

    public func tensors(_ c: ModelConfig, widths: (Int) -> LayerWidths) -> [(name: String, shape: [Int])] {
        let d = c.hiddenSize, hd = c.headDim
        var out: [(name: String, shape: [Int])] = [("model.embed_tokens.weight", [c.vocabSize, d])]
        for l in 0..<c.numLayers {
            let p = names.prefix(l), w = widths(l)
            out += [
                (p + "input_layernorm.weight", [d]),
                (p + "self_attn.q_proj.weight", [w.heads * hd, d]),
                (p + "self_attn.k_proj.weight", [w.kvHeads * hd, d]),
                (p + "self_attn.v_proj.weight", [w.kvHeads * hd, d]),
                (p + "self_attn.q_norm.weight", [hd]),
                (p + "self_attn.k_norm.weight", [hd]),
                (p + "self_attn.o_proj.weight", [d, w.heads * hd]),
                (p + "post_attention_layernorm.weight", [d]),
                (p + "pre_feedforward_layernorm.weight", [d]),
                (p + "mlp.gate_proj.weight", [w.ffn, d]),
                (p + "mlp.up_proj.weight", [w.ffn, d]),
                (p + "mlp.down_proj.weight", [d, w.ffn]),
                (p + "post_feedforward_layernorm.weight", [d]),
            ]
        }
        out.append(("model.norm.weight", [d]))
        if !c.tieEmbeddings { out.append(("lm_head.weight", [c.vocabSize, d])) }
        return out
    }

    public func fromGGUF(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor {
        isNormScale(name) ? Tensor(shape: t.shape, floats: t.floats().map { $0 - 1 }) : t
    }

    public func toGGUF(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor {
        isNormScale(name) ? Tensor(shape: t.shape, floats: t.floats().map { $0 + 1 }) : t
    }

    func isNormScale(_ name: String) -> Bool { block.isNorm(name) || name == names.finalNorm }

    func makeRunner(model: Model, capacity: Int, maxBatch: Int) throws -> any ModelRunner {
        try LlamaRunner(model: model, capacity: capacity, maxBatch: maxBatch, variant: Self.variant)
    }
}
