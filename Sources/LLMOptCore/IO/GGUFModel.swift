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
        let architecture: Architecture
        switch arch {
        case "llama": architecture = .llama
        case "gpt2": architecture = .gpt2
        default: throw fail("unknown architecture '\(arch)'; llmopt runs llama and gpt2")
        }

        var weights: [String: Tensor] = [:]
        var order: [String] = []
        for info in file.tensorInfos {
            guard let name = huggingFaceName(info.name, architecture: architecture) else {
                throw fail("tensor '\(info.name)' is not part of the \(arch) layout llmopt runs")
            }
            weights[name] = file.tensors[info.name]
            order.append(name)
        }

        let config = try self.config(file, architecture: architecture, weights: weights)
        try WeightShapes.check(weights, config: config, source: file.path)
        let tokenizer: (any Tokenizer)? = nil  // PENDING tokenizers merge
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

    static func config(_ file: GGUFFile, architecture: Architecture, weights: [String: Tensor]) throws -> ModelConfig {
        let arch = architecture.rawValue
        func fail(_ reason: String) -> LLMOptError { .badFile(path: file.path, reason: reason) }
        func int(_ key: String) throws -> Int? {
            guard let v = file.metadata["\(arch).\(key)"] else { return nil }
            guard let i = v.int, i > 0 else { throw fail("\(arch).\(key) must be a positive integer, got \(v)") }
            return i
        }
        func need(_ key: String) throws -> Int {
            guard let v = try int(key) else { throw fail("missing \(arch).\(key)") }
            return v
        }
        func float(_ key: String) -> Float? { file.metadata["\(arch).\(key)"]?.double.map { Float($0) } }
        let embedName = architecture == .llama ? "model.embed_tokens.weight" : "transformer.wte.weight"
        guard let embed = weights[embedName], embed.rank == 2 else { throw fail("missing token_embd.weight") }
        let bos = file.metadata["tokenizer.ggml.bos_token_id"]?.int
        let eos = file.metadata["tokenizer.ggml.eos_token_id"]?.int
        let hidden = try need("embedding_length")
        let heads = try need("attention.head_count")
        let tied = weights["lm_head.weight"] == nil

        switch architecture {
        case .llama:
            let headDim = try int("attention.key_length") ?? hidden / heads
            if let rot = try int("rope.dimension_count"), rot != headDim {
                throw LLMOptError.unsupported("\(file.path): rotary embedding over \(rot) of \(headDim) head dimensions is not supported")
            }
            if let scaling = file.metadata["llama.rope.scaling.type"]?.string, scaling != "none" {
                throw LLMOptError.unsupported("\(file.path): RoPE scaling '\(scaling)' is not supported")
            }
            return ModelConfig(
                architecture: .llama, vocabSize: embed.shape[0], hiddenSize: hidden,
                intermediateSize: try need("feed_forward_length"), numLayers: try need("block_count"),
                numHeads: heads, numKVHeads: try int("attention.head_count_kv") ?? heads, headDim: headDim,
                maxPositions: try int("context_length") ?? 2048,
                normEps: float("attention.layer_norm_rms_epsilon") ?? 1e-5,
                ropeTheta: float("rope.freq_base") ?? 10000, ropeInterleaved: true,
                tieEmbeddings: tied, bosTokenId: bos, eosTokenId: eos)
        case .gpt2:
            return ModelConfig(
                architecture: .gpt2, vocabSize: embed.shape[0], hiddenSize: hidden,
                intermediateSize: try int("feed_forward_length") ?? 4 * hidden, numLayers: try need("block_count"),
                numHeads: heads, numKVHeads: heads, maxPositions: try need("context_length"),
                normEps: float("attention.layer_norm_epsilon") ?? 1e-5,
                tieEmbeddings: tied, bosTokenId: bos, eosTokenId: eos)
        }
    }

    /// llama.cpp's name for each per-layer tensor suffix, by architecture, and back.
    static let layerNames: [Architecture: [(gguf: String, hf: String)]] = [
        .llama: [
            ("attn_norm.weight", "input_layernorm.weight"),
            ("attn_q.weight", "self_attn.q_proj.weight"),
            ("attn_k.weight", "self_attn.k_proj.weight"),
            ("attn_v.weight", "self_attn.v_proj.weight"),
            ("attn_output.weight", "self_attn.o_proj.weight"),
            ("ffn_norm.weight", "post_attention_layernorm.weight"),
            ("ffn_gate.weight", "mlp.gate_proj.weight"),
            ("ffn_up.weight", "mlp.up_proj.weight"),
            ("ffn_down.weight", "mlp.down_proj.weight"),
        ],
        .gpt2: [
            ("attn_norm.weight", "ln_1.weight"), ("attn_norm.bias", "ln_1.bias"),
            ("attn_qkv.weight", "attn.c_attn.weight"), ("attn_qkv.bias", "attn.c_attn.bias"),
            ("attn_output.weight", "attn.c_proj.weight"), ("attn_output.bias", "attn.c_proj.bias"),
            ("ffn_norm.weight", "ln_2.weight"), ("ffn_norm.bias", "ln_2.bias"),
            ("ffn_up.weight", "mlp.c_fc.weight"), ("ffn_up.bias", "mlp.c_fc.bias"),
            ("ffn_down.weight", "mlp.c_proj.weight"), ("ffn_down.bias", "mlp.c_proj.bias"),
        ],
    ]

    static let globalNames: [Architecture: [(gguf: String, hf: String)]] = [
        .llama: [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
        ],
        .gpt2: [
            ("token_embd.weight", "transformer.wte.weight"),
            ("position_embd.weight", "transformer.wpe.weight"),
            ("output_norm.weight", "transformer.ln_f.weight"),
            ("output_norm.bias", "transformer.ln_f.bias"),
            ("output.weight", "lm_head.weight"),
        ],
    ]

    static func layerPrefix(_ architecture: Architecture) -> String {
        architecture == .llama ? "model.layers." : "transformer.h."
    }

    /// The Hugging Face name of a llama.cpp tensor name, `nil` for names outside the layout.
    static func huggingFaceName(_ name: String, architecture: Architecture) -> String? {
        if let g = globalNames[architecture]!.first(where: { $0.gguf == name }) { return g.hf }
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0 else { return nil }
        let suffix = String(rest[rest.index(after: dot)...])
        guard let l = layerNames[architecture]!.first(where: { $0.gguf == suffix }) else { return nil }
        return "\(layerPrefix(architecture))\(layer).\(l.hf)"
    }

    /// The llama.cpp name of a Hugging Face tensor name, `nil` for names outside the layout.
    static func ggufName(_ name: String, architecture: Architecture) -> String? {
        if let g = globalNames[architecture]!.first(where: { $0.hf == name }) { return g.gguf }
        let prefix = layerPrefix(architecture)
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0 else { return nil }
        let suffix = String(rest[rest.index(after: dot)...])
        guard let l = layerNames[architecture]!.first(where: { $0.hf == suffix }) else { return nil }
        return "blk.\(layer).\(l.gguf)"
    }
}
