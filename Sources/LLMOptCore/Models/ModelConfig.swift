/// Hyperparameters of a decoder-only transformer, in the vocabulary of Hugging Face's
/// `config.json`. Per-layer sizes (after structured pruning) are read from weight shapes,
/// so these are the sizes the model was built with.
public struct ModelConfig: Sendable, Codable, Equatable {
    public var architecture: Architecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var maxPositions: Int
    public var normEps: Float
    public var ropeTheta: Float
    /// Llama only: rotary pairs are (2i, 2i+1) (llama2.c and GGUF's layout) rather than
    /// (i, i + headDim/2) (Hugging Face's "rotate half"). Loaders keep weights as stored and
    /// set this; savers permute rows of q/k when the target format wants the other layout.
    public var ropeInterleaved: Bool
    public var tieEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// Sliding-window attention (Mistral, Gemma's local layers): a position attends to this many
    /// positions, itself included; nil: to every earlier position.
    public var slidingWindow: Int?
    /// The layers that use the window; nil: every layer, when there is a window.
    public var slidingLayers: [Int]?
    /// The RoPE base of the sliding-window layers when it differs from `ropeTheta` (Gemma 3:
    /// 10 000 local, 1 000 000 global).
    public var ropeLocalTheta: Float?
    /// Attention scores are scaled by 1/√(this) (Gemma's `query_pre_attn_scalar`); nil: the head dimension.
    public var queryPreAttentionScalar: Float?

    public init(
        architecture: Architecture, vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
        numLayers: Int, numHeads: Int, numKVHeads: Int, headDim: Int? = nil, maxPositions: Int,
        normEps: Float, ropeTheta: Float = 10000, ropeInterleaved: Bool = false,
        tieEmbeddings: Bool, bosTokenId: Int? = nil, eosTokenId: Int? = nil, slidingWindow: Int? = nil,
        slidingLayers: [Int]? = nil, ropeLocalTheta: Float? = nil, queryPreAttentionScalar: Float? = nil
    ) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim ?? (numHeads > 0 ? hiddenSize / numHeads : 0)
        self.maxPositions = maxPositions
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.ropeInterleaved = ropeInterleaved
        self.tieEmbeddings = tieEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.slidingWindow = slidingWindow
        self.slidingLayers = slidingLayers
        self.ropeLocalTheta = ropeLocalTheta
        self.queryPreAttentionScalar = queryPreAttentionScalar
    }

    /// The attention window of layer `layer`, nil when it sees every earlier position.
    public func window(layer: Int) -> Int? {
        guard let w = slidingWindow else { return nil }
        return slidingLayers.map { $0.contains(layer) ? w : nil } ?? w
    }

    /// The RoPE base of layer `layer`.
    public func ropeTheta(layer: Int) -> Float {
        window(layer: layer) != nil ? ropeLocalTheta ?? ropeTheta : ropeTheta
    }
}
