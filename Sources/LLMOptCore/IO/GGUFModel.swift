/// Turns a GGUF file into a `Model`: hyperparameters from `<arch>.*` metadata, tensors renamed
/// from llama.cpp's names to Hugging Face's, the tokenizer and chat template from
/// `tokenizer.*`. Tensors stay in the mapped file.
///
/// llama.cpp's converter permutes the q/k rows of Llama checkpoints so that rotary pairs are
/// adjacent rows (2i, 2i+1), and runs `LLM_ARCH_LLAMA` with its "normal" (interleaved) RoPE;
/// the weights are kept as stored and the config says `ropeInterleaved = true`.
public enum GGUFModel {
    public static func load(_ path: String) throws -> Model {
        try model(from: GGUFFile(path: path))
    }

    public static func model(from file: GGUFFile) throws -> Model {
        func fail(_ reason: String) -> LLMOptError { .badFile(path: file.path, reason: reason) }
        guard let arch = file.architecture else { throw fail("no general.architecture in the metadata") }
        guard let family = ModelFamilies.gguf(architecture: arch, metadata: file.metadata) else {
            throw fail("unknown architecture '\(arch)'; llmopt runs \(ModelFamilies.names)")
        }

        var weights: [String: Tensor] = [:]
        var order: [String] = []
        for info in file.tensorInfos {
            guard let name = family.names.huggingFace(gguf: info.name) else {
                throw fail("tensor '\(info.name)' is not part of the \(arch) layout llmopt runs")
            }
            weights[name] = file.tensors[info.name]
            order.append(name)
        }

        let config = try family.config(gguf: GGUFConfigReader(file: file, architecture: arch, weights: weights, family: family))
        for (name, t) in weights { weights[name] = try family.fromGGUF(name, t, config: config) }
        try WeightShapes.check(weights, config: config, source: file.path)
        let tokenizer = file.metadata["tokenizer.ggml.model"] == nil ? nil : try GGUFTokenizerFactory.make(from: file)
        if let tokenizer, tokenizer.vocabularySize > config.vocabSize {
            throw fail("the tokenizer has \(tokenizer.vocabularySize) tokens, more than the \(config.vocabSize) rows of token_embd.weight")
        }
        var metadata: [String: String] = [:]
        for (key, value) in file.metadata where value.array == nil && !key.hasPrefix("tokenizer.") {
            metadata[key] = value.string ?? value.int.map(String.init) ?? value.double.map { "\($0)" } ?? value.bool.map { "\($0)" }
        }
        if let pre = file.metadata["tokenizer.ggml.pre"]?.string { metadata["tokenizer.ggml.pre"] = pre }
        return Model(
            config: config, weights: weights, weightOrder: order, tokenizer: tokenizer,
            chatTemplate: file.metadata["tokenizer.chat_template"]?.string,
            format: .gguf, sourcePath: file.path, metadata: metadata)
    }


    /// The llama.cpp name of a Hugging Face tensor name, `nil` for names outside the layout.
    static func ggufName(_ name: String, architecture: Architecture) -> String? {
        architecture.family.names.gguf(huggingFace: name)
    }
}

/// Typed reads of a GGUF file's `<arch>.*` metadata, with errors that name the file and the key.
public struct GGUFConfigReader {
    public let file: GGUFFile
    public let architecture: String
    public let weights: [String: Tensor]
    let family: any ModelFamily

    func fail(_ reason: String) -> LLMOptError { .badFile(path: file.path, reason: reason) }

    /// A positive integer, or the largest of a per-layer array (llama.cpp writes arrays for
    /// models whose layers differ, such as structurally pruned ones; per-layer widths are then
    /// read from the tensor shapes).
    public func int(_ key: String) throws -> Int? {
        guard let v = file.metadata["\(architecture).\(key)"] else { return nil }
        let values = v.ints ?? v.int.map { [$0] } ?? []
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else {
            throw fail("\(architecture).\(key) must be a positive integer or a list of them, got \(v)")
        }
        return values.max()
    }

    /// Every layer's value of a per-layer key (one value repeated when the file has a scalar).
    public func ints(_ key: String) -> [Int]? {
        guard let v = file.metadata["\(architecture).\(key)"] else { return nil }
        return v.ints ?? v.int.map { [$0] }
    }

    public func need(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw fail("missing \(architecture).\(key)") }
        return v
    }

    public func float(_ key: String) -> Float? { file.metadata["\(architecture).\(key)"]?.double.map { Float($0) } }
    public func string(_ key: String) -> String? { file.metadata["\(architecture).\(key)"]?.string }

    /// Rows of the token embedding table: the vocabulary size.
    public func vocabularySize() throws -> Int {
        guard let embed = weights[family.names.embedding], embed.rank == 2 else { throw fail("missing token_embd.weight") }
        return embed.shape[0]
    }

    /// Whether the file has no separate output layer.
    public var tied: Bool { weights[family.names.head] == nil }
    public var bosTokenId: Int? { file.metadata["tokenizer.ggml.bos_token_id"]?.int }
    public var eosTokenId: Int? { file.metadata["tokenizer.ggml.eos_token_id"]?.int }

    /// Refuses a rotary embedding over part of the head or with scaling.
    public func checkRoPE(headDim: Int) throws {
        if let rot = try int("rope.dimension_count"), rot != headDim {
            throw LLMOptError.unsupported("\(file.path): rotary embedding over \(rot) of \(headDim) head dimensions is not supported")
        }
        if let scaling = string("rope.scaling.type"), scaling != "none" {
            throw LLMOptError.unsupported("\(file.path): RoPE scaling '\(scaling)' is not supported")
        }
    }
}
