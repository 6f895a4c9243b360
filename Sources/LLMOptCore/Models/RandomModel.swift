import Foundation

/// Models with random weights in a given shape: for benchmarks (a GPT-2-small-shaped model
/// without downloading GPT-2) and for tests of techniques that need no trained weights.
public enum RandomModel {
    /// GPT-2 small: 12 layers, d 768, 12 heads, vocab 50257, 1024 positions (124.4M parameters).
    public static let gpt2Small = ModelConfig(
        architecture: .gpt2, vocabSize: 50257, hiddenSize: 768, intermediateSize: 3072, numLayers: 12,
        numHeads: 12, numKVHeads: 12, maxPositions: 1024, normEps: 1e-5, tieEmbeddings: true,
        bosTokenId: 50256, eosTokenId: 50256)

    /// Every weight the architecture needs, normal(0, 0.02) for matrices (seeded), ones for norm
    /// scales, zeros for biases. No tokenizer: feed token ids directly.
    public static func make(_ config: ModelConfig, seed: UInt64 = 1) -> Model {
        var rng = SplitMix64(seed: seed)
        var weights: [String: Tensor] = [:]
        var order: [String] = []
        func add(_ name: String, _ shape: [Int], _ kind: Init) {
            weights[name] = Tensor.f32(shape: shape) { buf in
                switch kind {
                case .normal: for i in buf.indices { buf[i] = 0.02 * rng.nextGaussian() }
                case .ones: for i in buf.indices { buf[i] = 1 }
                case .zeros: break
                }
            }
            order.append(name)
        }
        let d = config.hiddenSize, f = config.intermediateSize
        switch config.architecture {
        case .gpt2:
            add("transformer.wte.weight", [config.vocabSize, d], .normal)
            add("transformer.wpe.weight", [config.maxPositions, d], .normal)
            for l in 0..<config.numLayers {
                let p = "transformer.h.\(l)."
                add(p + "ln_1.weight", [d], .ones); add(p + "ln_1.bias", [d], .zeros)
                add(p + "attn.c_attn.weight", [3 * d, d], .normal); add(p + "attn.c_attn.bias", [3 * d], .zeros)
                add(p + "attn.c_proj.weight", [d, d], .normal); add(p + "attn.c_proj.bias", [d], .zeros)
                add(p + "ln_2.weight", [d], .ones); add(p + "ln_2.bias", [d], .zeros)
                add(p + "mlp.c_fc.weight", [f, d], .normal); add(p + "mlp.c_fc.bias", [f], .zeros)
                add(p + "mlp.c_proj.weight", [d, f], .normal); add(p + "mlp.c_proj.bias", [d], .zeros)
            }
            add("transformer.ln_f.weight", [d], .ones); add("transformer.ln_f.bias", [d], .zeros)
        case .llama:
            let hd = config.headDim
            add("model.embed_tokens.weight", [config.vocabSize, d], .normal)
            for l in 0..<config.numLayers {
                let p = "model.layers.\(l)."
                add(p + "input_layernorm.weight", [d], .ones)
                add(p + "self_attn.q_proj.weight", [config.numHeads * hd, d], .normal)
                add(p + "self_attn.k_proj.weight", [config.numKVHeads * hd, d], .normal)
                add(p + "self_attn.v_proj.weight", [config.numKVHeads * hd, d], .normal)
                add(p + "self_attn.o_proj.weight", [d, config.numHeads * hd], .normal)
                add(p + "post_attention_layernorm.weight", [d], .ones)
                add(p + "mlp.gate_proj.weight", [f, d], .normal)
                add(p + "mlp.up_proj.weight", [f, d], .normal)
                add(p + "mlp.down_proj.weight", [d, f], .normal)
            }
            add("model.norm.weight", [d], .ones)
            if !config.tieEmbeddings { add("lm_head.weight", [config.vocabSize, d], .normal) }
        }
        return Model(config: config, weights: weights, weightOrder: order, format: .memory, sourcePath: "random")
    }

    private enum Init { case normal, ones, zeros }
}

/// A small, fast, seedable generator (SplitMix64) with a Box-Muller normal sampler.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func nextUniform() -> Float { Float(next() >> 40) / Float(1 << 24) }

    public mutating func nextGaussian() -> Float {
        let u1 = max(nextUniform(), 1e-7), u2 = nextUniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
