/// Checks that a freshly loaded model has every tensor its architecture needs, each with a
/// shape that agrees with the config, so that a bad file fails at load time with a message
/// naming the tensor rather than deep inside a forward pass.
///
/// Structured pruning shrinks attention and FFN widths per layer, and config files cannot say
/// so; each layer's widths are therefore read from its first projections (`BlockTopology.widths`:
/// q and k, or c_attn, and the first MLP input) when they are positive, no larger than the
/// config's and whole heads, and every other tensor of the layer must agree with them.
enum WeightShapes {
    static func check(_ weights: [String: Tensor], config c: ModelConfig, source: String) throws {
        try validate(c, source: source)
        let family = c.architecture.family
        // The projections that give a layer its widths are looked for first: a layer that is
        // missing altogether is named by its first projection.
        let b = family.block
        for layer in 0..<c.numLayers {
            for suffix in b.attentionInputs.prefix(2) + b.mlpInputs.prefix(1) where weights[family.names.prefix(layer) + suffix] == nil {
                throw LLMOptError.missingTensor(name: family.names.prefix(layer) + suffix, source: source)
            }
        }
        for (name, want) in family.tensors(c, widths: { family.block.widths(layer: $0, weights: weights, config: c) }) {
            guard let got = weights[name]?.shape else { throw LLMOptError.missingTensor(name: name, source: source) }
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
        if let problem = c.architecture.family.problem(with: c) { throw fail(problem) }
        guard c.normEps.isFinite, c.normEps >= 0, c.ropeTheta.isFinite, c.ropeTheta > 0 else {
            throw fail("norm epsilon \(c.normEps) or RoPE theta \(c.ropeTheta) is not a usable number")
        }
    }
}
