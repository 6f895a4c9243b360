/// The architectures the engine runs. Each has one file in `Models/` with its forward pass.
public enum Architecture: String, Sendable, Codable, CaseIterable {
    case llama
    case gpt2
}

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

    public init(
        architecture: Architecture, vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
        numLayers: Int, numHeads: Int, numKVHeads: Int, headDim: Int? = nil, maxPositions: Int,
        normEps: Float, ropeTheta: Float = 10000, ropeInterleaved: Bool = false,
        tieEmbeddings: Bool, bosTokenId: Int? = nil, eosTokenId: Int? = nil
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
    }
}
