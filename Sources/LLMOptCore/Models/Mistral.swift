extension Architecture {
    public static let mistral = Architecture(registering: "mistral")
}

/// Mistral: Llama's block with sliding-window attention: position p attends to the
/// `sliding_window` positions up to itself, in prefill and decode alike. GGUF files store it
/// as llama.cpp's converter does, as a `llama` (q/k rows interleaved), with the window in
/// `llama.attention.sliding_window` (a key llama.cpp ignores: it runs such files with full
/// attention). Files under llmopt's earlier `mistral.*` names still load.
public struct MistralFamily: ModelFamily, ForwardRunnerFactory {
    public init() {}
    public var architecture: Architecture { .mistral }
    public var displayName: String { "Mistral" }
    public var huggingFaceClasses: [String] { ["MistralForCausalLM"] }
    public var huggingFaceModelType: String { "mistral" }
    public var startsWithBOS: Bool { true }

    public var names: TensorNameMap {
        TensorNameMap(
            layerPrefix: "model.layers.", embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight",
            global: LlamaFamily.globalNames, layer: LlamaFamily.layerNames)
    }

    public var trainingBlock: TrainingBlock? { .rotarySwiGLU }
    public var ggufArchitecture: String { "llama" }
    public var ggufMarkerKey: String? { "attention.sliding_window" }
    public var block: BlockTopology { LlamaFamily.block }
    public var scriptNames: [(field: String, tensor: String)] { LlamaFamily.scriptNames }
    public var scriptLayerNames: [(suffix: String, group: String?, field: String)] { LlamaFamily.scriptLayerNames }

    public func config(huggingFace r: HuggingFaceConfigReader) throws -> ModelConfig {
        if let act = r.string("hidden_act"), act != "silu" {
            throw LLMOptError.unsupported("\(r.path): hidden_act '\(act)' is not supported (Mistral uses silu)")
        }
        var c = try LlamaFamily.config(huggingFace: r, architecture: architecture)
        c.slidingWindow = try r.int("sliding_window")
        return c
    }

    public func huggingFaceConfig(_ c: ModelConfig) -> [String: Any] {
        var j = LlamaFamily.llamaConfigKeys(c)
        j["hidden_act"] = "silu"
        if let w = c.slidingWindow { j["sliding_window"] = w }
        return j
    }

    public func config(gguf r: GGUFConfigReader) throws -> ModelConfig {
        var c = try LlamaFamily.config(gguf: r, architecture: architecture, interleaved: true)
        c.slidingWindow = try r.int("attention.sliding_window")
        return c
    }

    public func ggufMetadata(_ c: ModelConfig, widths: [LayerWidths]) -> [(String, GGUFValue)] {
        LlamaFamily.ggufMetadata(c, widths: widths) + (c.slidingWindow.map { [("attention.sliding_window", .uint32(UInt32($0)))] } ?? [])
    }

    public func problem(with c: ModelConfig) -> String? {
        if let w = c.slidingWindow, w <= 0 { return "sliding window \(w) is not positive" }
        return LlamaFamily().problem(with: c)
    }

    public func tensors(_ c: ModelConfig, widths: (Int) -> LayerWidths) -> [(name: String, shape: [Int])] {
        LlamaFamily.tensors(c, widths: widths)
    }

    public func toHuggingFace(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor {
        try LlamaFamily().toHuggingFace(name, t, config: config)
    }

    public func toGGUF(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor {
        try LlamaFamily().toGGUF(name, t, config: config)
    }

    func makeRunner(model: Model, capacity: Int, maxBatch: Int) throws -> any ModelRunner {
        try LlamaRunner(model: model, capacity: capacity, maxBatch: maxBatch)
    }
}
