extension Architecture {
    public static let qwen2 = Architecture(registering: "qwen2")
}

/// Qwen2 and Qwen2.5: Llama's block with biases on the q, k and v projections, RoPE base 10⁶
/// by default, head tied or not. llama.cpp runs it with NeoX-style (rotate-half) RoPE, so its
/// GGUF files keep Hugging Face's q/k row order.
public struct Qwen2Family: ModelFamily, ForwardRunnerFactory {
    public init() {}
    public var architecture: Architecture { .qwen2 }
    public var displayName: String { "Qwen2" }
    public var huggingFaceClasses: [String] { ["Qwen2ForCausalLM"] }
    public var huggingFaceModelType: String { "qwen2" }

    public var names: TensorNameMap {
        TensorNameMap(
            layerPrefix: "model.layers.", embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight",
            global: LlamaFamily.globalNames,
            layer: LlamaFamily.layerNames + [("attn_q.bias", "self_attn.q_proj.bias"), ("attn_k.bias", "self_attn.k_proj.bias"),
                                             ("attn_v.bias", "self_attn.v_proj.bias")])
    }

    public var trainingBlock: TrainingBlock? { .rotarySwiGLU }
    public var block: BlockTopology { LlamaFamily.block }
    public var scriptNames: [(field: String, tensor: String)] { LlamaFamily.scriptNames }
    public var scriptLayerNames: [(suffix: String, group: String?, field: String)] {
        LlamaFamily.scriptLayerNames + [("self_attn.q_proj.bias", "attention", "wq_bias"), ("self_attn.k_proj.bias", "attention", "wk_bias"),
                                        ("self_attn.v_proj.bias", "attention", "wv_bias")]
    }

    public func config(huggingFace r: HuggingFaceConfigReader) throws -> ModelConfig {
        if let act = r.string("hidden_act"), act != "silu" {
            throw LLMOptError.unsupported("\(r.path): hidden_act '\(act)' is not supported (Qwen2 uses silu)")
        }
        if r.bool("use_sliding_window") == true {
            throw LLMOptError.unsupported("\(r.path): Qwen2 with use_sliding_window is not supported")
        }
        var c = try LlamaFamily.config(huggingFace: r, architecture: architecture)
        c.ropeTheta = try r.ropeTheta(default: 1_000_000)
        return c
    }

    public func huggingFaceConfig(_ c: ModelConfig) -> [String: Any] {
        LlamaFamily.llamaConfigKeys(c).merging(["hidden_act": "silu", "use_sliding_window": false]) { _, new in new }
    }

    public func config(gguf r: GGUFConfigReader) throws -> ModelConfig {
        var c = try LlamaFamily.config(gguf: r, architecture: architecture, interleaved: false)
        c.ropeTheta = r.float("rope.freq_base") ?? 1_000_000
        return c
    }

    public func ggufMetadata(_ c: ModelConfig, widths: [LayerWidths]) -> [(String, GGUFValue)] {
        LlamaFamily.ggufMetadata(c, widths: widths)
    }

    public func problem(with c: ModelConfig) -> String? { LlamaFamily().problem(with: c) }

    public func tensors(_ c: ModelConfig, widths: (Int) -> LayerWidths) -> [(name: String, shape: [Int])] {
        LlamaFamily.tensors(c, widths: widths, qkvBias: true)
    }

    func makeRunner(model: Model, capacity: Int, maxBatch: Int) throws -> any ModelRunner {
        try LlamaRunner(model: model, capacity: capacity, maxBatch: maxBatch)
    }
}
