/// Checks that a freshly loaded model has every tensor its architecture needs, each with a
/// shape that agrees with the config, so that a bad file fails at load time with a message
/// naming the tensor rather than deep inside a forward pass.
///
/// Structured pruning shrinks attention and FFN widths per layer, and config files cannot say
/// so; each layer's widths are therefore read from its first projection (q, gate, c_attn,
/// c_fc) when they are positive, no larger than the config's and whole heads, and every other
/// tensor of the layer must agree with them.
enum WeightShapes {
    static func check(_ weights: [String: Tensor], config c: ModelConfig, source: String) throws {
        try validate(c, source: source)
        var expected: [(String, [Int])] = []
        func shape(_ name: String) throws -> [Int] {
            guard let t = weights[name] else { throw LLMOptError.missingTensor(name: name, source: source) }
            return t.shape
        }
        /// A layer's width from the rows of `name`, or `full` when they do not make sense.
        func width(_ name: String, full: Int, divisor: Int = 1, multiple: Int) throws -> Int {
            let s = try shape(name)
            guard s.count == 2, s[0] % divisor == 0 else { return full }
            let w = s[0] / divisor
            return (w > 0 && w <= full && w % multiple == 0) ? w : full
        }
        let d = c.hiddenSize
        switch c.architecture {
        case .llama:
            let hd = c.headDim
            expected.append(("model.embed_tokens.weight", [c.vocabSize, d]))
            for i in 0..<c.numLayers {
                let p = "model.layers.\(i)."
                let q = try width(p + "self_attn.q_proj.weight", full: c.numHeads * hd, multiple: hd)
                let kv = try width(p + "self_attn.k_proj.weight", full: c.numKVHeads * hd, multiple: hd)
                let ffn = try width(p + "mlp.gate_proj.weight", full: c.intermediateSize, multiple: 1)
                expected += [
                    (p + "input_layernorm.weight", [d]),
                    (p + "self_attn.q_proj.weight", [q, d]),
                    (p + "self_attn.k_proj.weight", [kv, d]),
                    (p + "self_attn.v_proj.weight", [kv, d]),
                    (p + "self_attn.o_proj.weight", [d, q]),
                    (p + "post_attention_layernorm.weight", [d]),
                    (p + "mlp.gate_proj.weight", [ffn, d]),
                    (p + "mlp.up_proj.weight", [ffn, d]),
                    (p + "mlp.down_proj.weight", [d, ffn]),
                ]
            }
            expected.append(("model.norm.weight", [d]))
            if !c.tieEmbeddings { expected.append(("lm_head.weight", [c.vocabSize, d])) }
        case .gpt2:
            let hd = c.headDim
            expected += [("transformer.wte.weight", [c.vocabSize, d]), ("transformer.wpe.weight", [c.maxPositions, d])]
            for i in 0..<c.numLayers {
                let p = "transformer.h.\(i)."
                let attn = try width(p + "attn.c_attn.weight", full: c.numHeads * hd, divisor: 3, multiple: hd)
                let ffn = try width(p + "mlp.c_fc.weight", full: c.intermediateSize, multiple: 1)
                expected += [
                    (p + "ln_1.weight", [d]), (p + "ln_1.bias", [d]),
                    (p + "attn.c_attn.weight", [3 * attn, d]), (p + "attn.c_attn.bias", [3 * attn]),
                    (p + "attn.c_proj.weight", [d, attn]), (p + "attn.c_proj.bias", [d]),
                    (p + "ln_2.weight", [d]), (p + "ln_2.bias", [d]),
                    (p + "mlp.c_fc.weight", [ffn, d]), (p + "mlp.c_fc.bias", [ffn]),
                    (p + "mlp.c_proj.weight", [d, ffn]), (p + "mlp.c_proj.bias", [d]),
                ]
            }
            expected += [("transformer.ln_f.weight", [d]), ("transformer.ln_f.bias", [d])]
            if !c.tieEmbeddings { expected.append(("lm_head.weight", [c.vocabSize, d])) }
        }
        for (name, want) in expected {
            let got = try shape(name)
            guard got == want else {
                throw LLMOptError.shapeMismatch(name: name, expected: want, actual: got, source: source)
            }
        }
    }

    /// Sizes the forward pass divides by or indexes with, refused before they can crash it.
    static func validate(_ c: ModelConfig, source: String) throws {
        func fail(_ reason: String) -> LLMOptError { .badFile(path: source, reason: "config: \(reason)") }
        let sizes = [("vocab size", c.vocabSize), ("hidden size", c.hiddenSize), ("intermediate size", c.intermediateSize),
                     ("layer count", c.numLayers), ("head count", c.numHeads), ("KV head count", c.numKVHeads),
                     ("head dimension", c.headDim), ("context length", c.maxPositions)]
        for (name, value) in sizes where value <= 0 { throw fail("\(name) is \(value)") }
        // Every size is a tensor dimension or a count of them: past 2^31 no file could hold the
        // tensors, and products of such sizes would overflow.
        let limit = Int(Int32.max)
        for (name, value) in sizes where value > limit { throw fail("\(name) is \(value), more than \(limit)") }
        for (name, a, b) in [("heads × head dimension", c.numHeads, c.headDim), ("KV heads × head dimension", c.numKVHeads, c.headDim),
                             ("vocab size × hidden size", c.vocabSize, c.hiddenSize), ("intermediate size × hidden size", c.intermediateSize, c.hiddenSize),
                             ("context length × hidden size", c.maxPositions, c.hiddenSize)] where a > limit / b {
            throw fail("\(name) is \(a) × \(b), more than \(limit)")
        }
        guard c.numHeads % c.numKVHeads == 0 else {
            throw fail("\(c.numHeads) attention heads cannot share \(c.numKVHeads) KV heads evenly")
        }
        guard c.architecture == .gpt2 || c.headDim % 2 == 0 else { throw fail("RoPE needs an even head dimension, got \(c.headDim)") }
        guard c.architecture == .llama || c.headDim * c.numHeads == c.hiddenSize else {
            throw fail("GPT-2 needs n_embd \(c.hiddenSize) divisible by n_head \(c.numHeads)")
        }
        guard c.normEps.isFinite, c.normEps >= 0, c.ropeTheta.isFinite, c.ropeTheta > 0 else {
            throw fail("norm epsilon \(c.normEps) or RoPE theta \(c.ropeTheta) is not a usable number")
        }
    }
}
