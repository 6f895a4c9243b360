import Foundation

/// Models with random weights in a given shape: for benchmarks (a GPT-2-small-shaped model
/// without downloading GPT-2) and for tests of techniques that need no trained weights.
public enum RandomModel {
    /// GPT-2 small: 12 layers, d 768, 12 heads, vocab 50257, 1024 positions (124.4M parameters).
    public static let gpt2Small = ModelConfig(
        architecture: .gpt2, vocabSize: 50257, hiddenSize: 768, intermediateSize: 3072, numLayers: 12,
        numHeads: 12, numKVHeads: 12, maxPositions: 1024, normEps: 1e-5, tieEmbeddings: true,
        bosTokenId: 50256, eosTokenId: 50256)

    /// Every weight the architecture needs (`ModelFamily.tensors`), normal(0, 0.02) for matrices
    /// (seeded), ones for norm scales, zeros for biases (`ModelFamily.initialValue`). No tokenizer: feed token ids directly.
    public static func make(_ config: ModelConfig, seed: UInt64 = 1) -> Model {
        var rng = SplitMix64(seed: seed)
        var weights: [String: Tensor] = [:]
        var order: [String] = []
        func add(_ name: String, _ shape: [Int], _ kind: InitialValue) {
            weights[name] = Tensor.f32(shape: shape) { buf in
                switch kind {
                case .normal: for i in buf.indices { buf[i] = 0.02 * rng.nextGaussian() }
                case .ones: for i in buf.indices { buf[i] = 1 }
                case .zeros: break
                }
            }
            order.append(name)
        }
        let family = config.architecture.family
        for (name, shape) in family.tensors(config, widths: { _ in LayerWidths(config) }) {
            add(name, shape, family.initialValue(of: name))
        }
        return Model(config: config, weights: weights, weightOrder: order, format: .memory, sourcePath: "random")
    }
}

extension SplitMix64 {
    /// Uniform in [0, 1) with 24 bits of precision.
    mutating func nextUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// A standard normal sample (Box-Muller).
    mutating func nextGaussian() -> Float {
        let u1 = max(nextUnitFloat(), 1e-7), u2 = nextUnitFloat()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
