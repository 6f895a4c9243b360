/// A model family llmopt runs (`llama`, `gpt2`, ...): a name that `ModelConfig` carries and
/// files store, standing for the family's description (`ModelFamily`) in the registry.
/// Everything that depends on the architecture asks `architecture.family` instead of comparing
/// names, so a new family is one file in `Models/` plus one line in `ModelFamilies.all`.
public struct Architecture: RawRepresentable, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The family's GGUF `general.architecture` name, which is also llmopt's name for it.
    public let rawValue: String

    /// A registered architecture, `nil` for a name no family has.
    public init?(rawValue: String) {
        guard ModelFamilies.all.contains(where: { $0.architecture.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    /// For the families' own `static let`s.
    init(registering name: String) { rawValue = name }

    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let a = Architecture(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown architecture '\(name)'; llmopt runs \(ModelFamilies.names)"))
        }
        self = a
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    public static var allCases: [Architecture] { ModelFamilies.all.map(\.architecture) }

    /// This architecture's description.
    public var family: any ModelFamily {
        // Every value comes from a family's `static let` or from `init?(rawValue:)`, which checks the registry.
        ModelFamilies.all.first { $0.architecture == self }!
    }

    public var description: String { rawValue }
}

/// Everything llmopt knows about one model family, in the family's file: names in Hugging Face
/// and GGUF files and the config keys of both (read and written), the map between their tensor
/// names, the shapes it expects, the topology of a block (which linears read which norm, which
/// are fused, how heads map to rows, what structured pruning cuts together), the friendly names
/// the language shows, and its forward pass (`ForwardRunnerFactory`).
public protocol ModelFamily: Sendable {
    var architecture: Architecture { get }
    /// For people: `Llama`, `GPT-2`.
    var displayName: String { get }
    /// `architectures` entries of a Hugging Face `config.json` that mean this family.
    var huggingFaceClasses: [String] { get }
    /// `model_type` of a Hugging Face `config.json`.
    var huggingFaceModelType: String { get }
    var names: TensorNameMap { get }
    var block: BlockTopology { get }

    /// The configuration from a Hugging Face `config.json`.
    func config(huggingFace r: HuggingFaceConfigReader) throws -> ModelConfig
    /// The family's own `config.json` keys (the shared ones, vocabulary size, ids and tying,
    /// are written by `HuggingFaceFolder`).
    func huggingFaceConfig(_ c: ModelConfig) -> [String: Any]
    /// `general.architecture` of the family's GGUF files: llama.cpp's name, which relatives may
    /// share (llama.cpp runs Mistral as `llama`).
    var ggufArchitecture: String { get }
    /// A `<ggufArchitecture>.` key whose presence tells this family's files from the others
    /// under the same GGUF architecture; nil for the family that name stands for.
    var ggufMarkerKey: String? { get }
    /// The configuration from GGUF metadata (`<arch>.*` keys).
    func config(gguf r: GGUFConfigReader) throws -> ModelConfig
    /// The family's own `<arch>.*` GGUF keys (the shared sizes are written by `GGUFWriter`).
    func ggufMetadata(_ c: ModelConfig, widths: [LayerWidths]) -> [(String, GGUFValue)]
    /// Why the config cannot run, or nil.
    func problem(with c: ModelConfig) -> String?
    /// Every tensor a model of this config has, in the family's canonical order, with its shape;
    /// `widths` gives each layer's widths (smaller after structured pruning).
    func tensors(_ c: ModelConfig, widths: (Int) -> LayerWidths) -> [(name: String, shape: [Int])]
    /// The value a freshly initialised tensor starts from: `RandomModel` draws the others.
    func initialValue(of name: String) -> InitialValue

    /// The engine's name for a tensor of a Hugging Face checkpoint, nil for buffers it recomputes.
    func huggingFaceName(_ checkpointName: String) -> String?
    /// A checkpoint tensor as the engine holds it (`[out, in]` linears).
    func fromHuggingFace(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor
    /// An engine tensor as a Hugging Face checkpoint stores it (float dtypes).
    func toHuggingFace(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor
    /// A GGUF tensor (under its Hugging Face name) as the engine holds it.
    func fromGGUF(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor
    /// An engine tensor as llama.cpp stores it.
    func toGGUF(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor

    /// Whether prompts start with the BOS token.
    var startsWithBOS: Bool { get }
    /// The language's names for the model's own tensors (`embedding`, `norm`, `lm_head`...).
    var scriptNames: [(field: String, tensor: String)] { get }
    /// The language's names for a layer's tensors: `attention.wq`, `mlp.down`, `attention_norm`...
    var scriptLayerNames: [(suffix: String, group: String?, field: String)] { get }
    /// Which of the training graph's backward passes the family's block takes; nil when it has none.
    var trainingBlock: TrainingBlock? { get }
}

/// The blocks `TrainingGraph` has backward passes for. The tensor names come from the family's
/// `names` and `block`; the widths, biases and sliding windows from the model.
public enum TrainingBlock: Sendable {
    /// RMSNorm before attention and MLP, rotary q/k from separate q/k/v projections (with biases
    /// where the model has them), grouped-query attention, a SwiGLU MLP: Llama and its relatives.
    case rotarySwiGLU
    /// LayerNorm before attention and MLP, learned positions, one fused q/k/v projection, a GELU
    /// MLP, biases on every linear: GPT-2.
    case learnedPositionsGELU
}

/// How `RandomModel` fills a tensor.
public enum InitialValue: Sendable { case normal, ones, zeros }

extension ModelFamily {
    public var huggingFaceClasses: [String] { [] }
    public func problem(with c: ModelConfig) -> String? { nil }
    public func huggingFaceName(_ checkpointName: String) -> String? { checkpointName }
    public func fromHuggingFace(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor { t }
    public func toHuggingFace(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor { t }
    public func fromGGUF(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor { t }
    public func toGGUF(_ name: String, _ t: Tensor, config: ModelConfig) throws -> Tensor { t }
    public var startsWithBOS: Bool { false }
    public var trainingBlock: TrainingBlock? { nil }
    public var ggufArchitecture: String { architecture.rawValue }
    public var ggufMarkerKey: String? { nil }

    /// Norm scales start at one, biases at zero, everything else is drawn.
    public func initialValue(of name: String) -> InitialValue {
        if name.hasSuffix(".bias") { return .zeros }
        if block.isNorm(name) || name == names.finalNorm { return .ones }
        return .normal
    }

    /// Whether `name` is the token embedding, the learned position table or the separate head:
    /// the tables that default selections (pruning, quantization, sparsity) leave alone.
    public func isEmbeddingOrHead(_ name: String) -> Bool {
        name == names.embedding || name == names.positions || name == names.head
    }

    /// Whether positions enter through rotary embeddings (no learned position table).
    public var usesRotaryPositions: Bool { names.positions == nil }

    /// Each layer's widths read from its weights, the config's where a weight is missing.
    public func widths(_ weights: [String: Tensor], config c: ModelConfig) -> [LayerWidths] {
        (0..<c.numLayers).map { block.widths(layer: $0, weights: weights, config: c) }
    }
}

/// The registry of families: adding one is one line here.
public enum ModelFamilies {
    public static let all: [any ModelFamily] = [
        LlamaFamily(),
        GPT2Family(),
        Qwen2Family(),
        MistralFamily(),
        Gemma3Family(),
    ]

    /// The family a Hugging Face config's `architectures` or `model_type` names.
    public static func huggingFace(classes: [String], modelType: String?) -> (any ModelFamily)? {
        all.first { f in classes.contains { f.huggingFaceClasses.contains($0) } } ?? all.first { $0.huggingFaceModelType == modelType }
    }

    /// The family of a GGUF file whose `general.architecture` is `name`: among the families
    /// written under that name, the one whose marker key the file has, else the one without a
    /// marker; else the family llmopt calls `name` (files written under llmopt's own names).
    public static func gguf(architecture name: String, metadata: [String: GGUFValue]) -> (any ModelFamily)? {
        let sharing = all.filter { $0.ggufArchitecture == name }
        if let marked = sharing.first(where: { f in f.ggufMarkerKey.map { metadata["\(name).\($0)"] != nil } ?? false }) {
            return marked
        }
        return sharing.first { $0.ggufMarkerKey == nil } ?? all.first { $0.architecture.rawValue == name }
    }

    /// Names of every family, for messages.
    public static var names: String { all.map(\.architecture.rawValue).joined(separator: ", ") }
}

/// A family's forward pass: kept apart from `ModelFamily` because runners are internal.
protocol ForwardRunnerFactory {
    func makeRunner(model: Model, capacity: Int, maxBatch: Int) throws -> any ModelRunner
}

/// One layer's widths: query and KV heads and FFN channels.
public struct LayerWidths: Sendable, Equatable {
    public var heads, kvHeads, ffn: Int
    public init(heads: Int, kvHeads: Int, ffn: Int) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.ffn = ffn
    }

    /// The widths a config was built with.
    public init(_ c: ModelConfig) { self.init(heads: c.numHeads, kvHeads: c.numKVHeads, ffn: c.intermediateSize) }
}

/// Hugging Face ↔ llama.cpp tensor names: the model's own tensors, and the suffixes of each
/// block's tensors after `layerPrefix` + index + "." (GGUF: `blk.` + index + ".").
public struct TensorNameMap: Sendable {
    public let layerPrefix: String
    public let global: [(gguf: String, hf: String)]
    public let layer: [(gguf: String, hf: String)]
    /// The token embedding table, the final norm (and its bias), learned positions, the separate head.
    public let embedding: String
    public let positions: String?
    public let finalNorm: String
    public let finalNormBias: String?
    public let head: String

    public init(layerPrefix: String, embedding: String, positions: String? = nil, finalNorm: String, finalNormBias: String? = nil,
                head: String = "lm_head.weight", global: [(gguf: String, hf: String)], layer: [(gguf: String, hf: String)]) {
        self.layerPrefix = layerPrefix
        self.embedding = embedding
        self.positions = positions
        self.finalNorm = finalNorm
        self.finalNormBias = finalNormBias
        self.head = head
        self.global = global
        self.layer = layer
    }

    /// Block `i`'s name prefix.
    public func prefix(_ layer: Int) -> String { "\(layerPrefix)\(layer)." }

    /// The layer index of a tensor name inside a block, and the rest of the name.
    public func split(_ name: String) -> (layer: Int, suffix: String)? {
        guard name.hasPrefix(layerPrefix) else { return nil }
        let tail = name.dropFirst(layerPrefix.count)
        guard let dot = tail.firstIndex(of: "."), let layer = Int(tail[..<dot]), layer >= 0 else { return nil }
        return (layer, String(tail[tail.index(after: dot)...]))
    }

    /// The Hugging Face name of a llama.cpp tensor name, `nil` for names outside the layout.
    public func huggingFace(gguf name: String) -> String? {
        if let g = global.first(where: { $0.gguf == name }) { return g.hf }
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0 else { return nil }
        let suffix = String(rest[rest.index(after: dot)...])
        guard let l = layer.first(where: { $0.gguf == suffix }) else { return nil }
        return prefix(index) + l.hf
    }

    /// The llama.cpp name of a Hugging Face tensor name, `nil` for names outside the layout.
    public func gguf(huggingFace name: String) -> String? {
        if let g = global.first(where: { $0.hf == name }) { return g.gguf }
        guard let (index, suffix) = split(name), let l = layer.first(where: { $0.hf == suffix }) else { return nil }
        return "blk.\(index).\(l.gguf)"
    }
}

/// Which tensors of a block do what, by suffix: the questions structured pruning, AWQ,
/// summaries and checks ask of a block, answered once per family.
public struct BlockTopology: Sendable {
    /// A norm's scale (and bias, for LayerNorm).
    public struct Norm: Sendable {
        public let weight: String
        public let bias: String?
        public init(weight: String, bias: String? = nil) {
            self.weight = weight
            self.bias = bias
        }
    }

    /// Where q, k and v come from.
    public enum Attention: Sendable {
        /// Separate projections: q has heads × headDim rows, k and v kvHeads × headDim.
        case separate(q: String, k: String, v: String)
        /// One projection with q, k and v stacked along its rows (GPT-2's `c_attn`), heads × headDim each.
        case fused(qkv: String)
    }

    public let attention: Attention
    /// The norm whose output the attention's input projections read.
    public let attentionNorm: Norm
    public let attentionOutput: String
    /// The norm whose output the MLP's input projections read.
    public let mlpNorm: Norm
    /// The MLP's input projections, one row per channel (gate and up; c_fc).
    public let mlpInputs: [String]
    /// The MLP's output projection, one column per channel.
    public let mlpOutput: String
    /// The MLP input whose rows scale the output projection's input linearly (SwiGLU's up), where
    /// AWQ folds 1/s for the output projection; nil when a nonlinearity comes in between.
    public let mlpLinearInput: String?
    /// Further norms (q/k norms, post-norms) that no linear reads directly.
    public let otherNorms: [String]
    /// How the MLP's channel activation is written in notes: `silu(gate x) * up x`.
    public let mlpActivation: String

    public init(attention: Attention, attentionNorm: Norm, attentionOutput: String, mlpNorm: Norm, mlpInputs: [String],
                mlpOutput: String, mlpLinearInput: String?, otherNorms: [String] = [], mlpActivation: String) {
        self.attention = attention
        self.attentionNorm = attentionNorm
        self.attentionOutput = attentionOutput
        self.mlpNorm = mlpNorm
        self.mlpInputs = mlpInputs
        self.mlpOutput = mlpOutput
        self.mlpLinearInput = mlpLinearInput
        self.otherNorms = otherNorms
        self.mlpActivation = mlpActivation
    }

    /// The linears that read the attention norm's output.
    public var attentionInputs: [String] {
        switch attention {
        case let .separate(q, k, v): return [q, k, v]
        case let .fused(qkv): return [qkv]
        }
    }

    /// The weight whose rows give the query heads, and how many row blocks of headDim a head has in it.
    var queryRows: (name: String, blocksPerHead: Int) {
        switch attention {
        case let .separate(q, _, _): return (q, 1)
        case let .fused(qkv): return (qkv, 3)
        }
    }

    /// Whether a name (full or suffix) is one of the block's norm tensors.
    public func isNorm(_ name: String) -> Bool {
        let norms = [attentionNorm.weight, mlpNorm.weight] + [attentionNorm.bias, mlpNorm.bias].compactMap { $0 } + otherNorms
        return norms.contains { name == $0 || name.hasSuffix("." + $0) }
    }

    /// Layer `layer`'s widths from the rows of its weights; the config's where a weight is
    /// missing or its rows make no sense (not whole heads, larger than the config's).
    public func widths(layer: Int, weights: [String: Tensor], config c: ModelConfig) -> LayerWidths {
        let prefix = c.architecture.family.names.prefix(layer)
        let hd = max(1, c.headDim)
        func rows(_ suffix: String, per: Int, full: Int) -> Int {
            guard let s = weights[prefix + suffix]?.shape, s.count == 2, s[0] % per == 0 else { return full }
            let w = s[0] / per
            return (w > 0 && w <= full) ? w : full
        }
        let (qName, blocks) = queryRows
        let heads = rows(qName, per: blocks * hd, full: c.numHeads)
        let kvHeads: Int
        switch attention {
        case let .separate(_, k, _): kvHeads = rows(k, per: hd, full: c.numKVHeads)
        case .fused: kvHeads = heads
        }
        return LayerWidths(heads: heads, kvHeads: kvHeads, ffn: rows(mlpInputs[0], per: 1, full: c.intermediateSize))
    }
}
