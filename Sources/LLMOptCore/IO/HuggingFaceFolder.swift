import Foundation

/// Loads a Hugging Face model folder: `config.json`, `model.safetensors` (or shards listed in
/// `model.safetensors.index.json`) and `tokenizer.json`.
public enum HuggingFaceFolder {
    public static func load(_ folder: String) throws -> Model {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw LLMOptError.badFile(path: configPath, reason: "cannot read config.json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LLMOptError.badFile(path: configPath, reason: "not a JSON object")
        }
        let config = try parseConfig(json, path: configPath)
        let st = try SafetensorsFile(path: (folder as NSString).appendingPathComponent("model.safetensors"))
        var weights: [String: Tensor] = [:]
        for (name, t) in st.tensors {
            var name = name
            if config.architecture == .gpt2 {
                if !name.hasPrefix("transformer.") && name != "lm_head.weight" { name = "transformer." + name }
                if name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") { continue }
                weights[name] = isConv1D(name) ? transposed(t.toF32()) : t
            } else {
                weights[name] = t
            }
        }
        let order = st.order.compactMap { n -> String? in
            let full = (config.architecture == .gpt2 && !n.hasPrefix("transformer.") && n != "lm_head.weight") ? "transformer." + n : n
            return weights[full] == nil ? nil : full
        }
        return Model(config: config, weights: weights, weightOrder: order, format: .huggingFace, sourcePath: folder)
    }

    /// GPT-2's Conv1D layers store `[in, out]`; the engine wants `[out, in]`.
    static func isConv1D(_ name: String) -> Bool {
        name.hasSuffix(".weight") && (name.contains(".attn.c_attn.") || name.contains(".attn.c_proj.") || name.contains(".mlp.c_fc.") || name.contains(".mlp.c_proj."))
    }

    static func transposed(_ t: Tensor) -> Tensor {
        let (r, c) = (t.shape[0], t.shape[1])
        let src = t.f32Pointer
        return Tensor.f32(shape: [c, r]) { out in
            for i in 0..<r { for j in 0..<c { out[j * r + i] = src[i * c + j] } }
        }
    }

    static func parseConfig(_ j: [String: Any], path: String) throws -> ModelConfig {
        func int(_ keys: String...) -> Int? { for k in keys { if let v = j[k] as? Int { return v } }; return nil }
        func float(_ keys: String...) -> Float? { for k in keys { if let v = j[k] as? Double { return Float(v) } }; return nil }
        let archs = (j["architectures"] as? [String]) ?? []
        let modelType = j["model_type"] as? String
        func need(_ v: Int?, _ key: String) throws -> Int {
            guard let v, v > 0 else { throw LLMOptError.badFile(path: path, reason: "missing or invalid '\(key)'") }
            return v
        }
        if archs.contains("LlamaForCausalLM") || modelType == "llama" {
            let hidden = try need(int("hidden_size"), "hidden_size")
            let heads = try need(int("num_attention_heads"), "num_attention_heads")
            var theta = float("rope_theta")
            if let rp = j["rope_parameters"] as? [String: Any], let t = rp["rope_theta"] as? Double { theta = theta ?? Float(t) }
            return ModelConfig(
                architecture: .llama, vocabSize: try need(int("vocab_size"), "vocab_size"), hiddenSize: hidden,
                intermediateSize: try need(int("intermediate_size"), "intermediate_size"),
                numLayers: try need(int("num_hidden_layers"), "num_hidden_layers"), numHeads: heads,
                numKVHeads: int("num_key_value_heads") ?? heads, headDim: int("head_dim"),
                maxPositions: int("max_position_embeddings") ?? 2048, normEps: float("rms_norm_eps") ?? 1e-6,
                ropeTheta: theta ?? 10000, ropeInterleaved: false,
                tieEmbeddings: (j["tie_word_embeddings"] as? Bool) ?? false,
                bosTokenId: int("bos_token_id"), eosTokenId: int("eos_token_id"))
        }
        if archs.contains("GPT2LMHeadModel") || modelType == "gpt2" {
            let d = try need(int("n_embd"), "n_embd")
            let heads = try need(int("n_head"), "n_head")
            return ModelConfig(
                architecture: .gpt2, vocabSize: try need(int("vocab_size"), "vocab_size"), hiddenSize: d,
                intermediateSize: int("n_inner") ?? 4 * d, numLayers: try need(int("n_layer"), "n_layer"),
                numHeads: heads, numKVHeads: heads, maxPositions: int("n_positions") ?? 1024,
                normEps: float("layer_norm_epsilon") ?? 1e-5, tieEmbeddings: (j["tie_word_embeddings"] as? Bool) ?? true,
                bosTokenId: int("bos_token_id"), eosTokenId: int("eos_token_id"))
        }
        throw LLMOptError.badFile(path: path, reason: "unknown architecture \(archs.first ?? modelType ?? "(none)"); llmopt runs LlamaForCausalLM and GPT2LMHeadModel")
    }
}
