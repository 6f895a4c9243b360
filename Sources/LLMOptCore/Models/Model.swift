/// Where a model came from, for summaries and for savers that want to round-trip metadata.
public enum ModelFormat: String, Sendable, Codable {
    case llama2c, gguf, huggingFace = "hf", memory
}

/// A loaded model: configuration, named weights, tokenizer. A value: operations such as
/// pruning or quantization return a new `Model` that shares every tensor they did not change.
///
/// Weight names are Hugging Face's for every source format (`model.layers.0.self_attn.q_proj.weight`
/// for Llama, `transformer.h.0.attn.c_attn.weight` for GPT-2), so name patterns in scripts mean
/// the same thing whatever file the model came from. Linear weights are `[out, in]` (GPT-2's
/// Conv1D weights are transposed on load).
public struct Model: Sendable {
    public var config: ModelConfig
    public var weights: [String: Tensor]
    /// Tensor names in the order of the source file, for stable listings and saves.
    public var weightOrder: [String]
    public var tokenizer: (any Tokenizer)?
    /// Jinja chat template as shipped with the model, when it has one.
    public var chatTemplate: String?
    public var format: ModelFormat
    public var sourcePath: String?
    /// Free-form facts about the source (GGUF metadata worth keeping, file type...).
    public var metadata: [String: String]

    public init(
        config: ModelConfig, weights: [String: Tensor], weightOrder: [String]? = nil,
        tokenizer: (any Tokenizer)? = nil, chatTemplate: String? = nil,
        format: ModelFormat = .memory, sourcePath: String? = nil, metadata: [String: String] = [:]
    ) {
        self.config = config
        self.weights = weights
        self.weightOrder = weightOrder ?? weights.keys.sorted()
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.format = format
        self.sourcePath = sourcePath
        self.metadata = metadata
    }

    public subscript(name: String) -> Tensor? { weights[name] }

    /// Looks a weight up, throwing an error that names the model and the missing tensor.
    public func weight(_ name: String) throws -> Tensor {
        guard let t = weights[name] else {
            throw LLMOptError.missingTensor(name: name, source: sourcePath ?? "model")
        }
        return t
    }

    /// Returns a copy with one tensor replaced (or added); every other tensor stays shared.
    public func replacing(_ name: String, with tensor: Tensor) -> Model {
        var m = self
        if m.weights.updateValue(tensor, forKey: name) == nil { m.weightOrder.append(name) }
        return m
    }

    public var parameterCount: Int { weights.values.reduce(0) { $0 + $1.count } }
    public var byteCount: Int { weights.values.reduce(0) { $0 + $1.byteCount } }
}
