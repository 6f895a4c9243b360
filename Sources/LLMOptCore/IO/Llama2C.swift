import Foundation

/// A llama2.c checkpoint (`run.c`'s legacy format): seven int32 (dim, hidden_dim, n_layers,
/// n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means the classifier is
/// not shared with the embedding), then float32 arrays in a fixed order, every per-layer
/// array holding all layers back to back. Tensors point into the mapped file.
///
/// llama2.c rotates pairs (2i, 2i+1) of each head, so the config says `ropeInterleaved`.
/// w1 is the gate projection, w3 the up projection, w2 the down projection.
public struct Llama2CFile {
    public let path: String
    public let config: ModelConfig
    /// Tensors under Hugging Face names, in file order.
    public let tensors: [String: Tensor]
    public let order: [String]

    static let headerBytes = 28

    public init(path: String) throws {
        let file = try MappedFile(path: path)
        func fail(_ reason: String) -> LLMOptError { .badFile(path: path, reason: reason) }
        guard let header = Self.header(file) else {
            throw fail("too short for a llama2.c header (\(file.size) bytes)")
        }
        let h = header
        guard h.dim > 0, h.hidden > 0, h.layers > 0, h.heads > 0, h.kvHeads > 0, h.vocab != 0, h.seqLen > 0,
              h.dim % h.heads == 0, h.heads % h.kvHeads == 0, (h.dim / h.heads) % 2 == 0
        else {
            throw fail("implausible llama2.c header \(h.fields)")
        }
        guard let layout = Self.layout(h) else { throw fail("llama2.c header \(h.fields) overflows") }
        let expectedBytes = Self.headerBytes + layout.floats * 4
        guard file.size == expectedBytes else {
            let what = file.size < expectedBytes ? "truncated" : "longer than expected"
            throw fail("\(what): header \(h.fields) needs \(expectedBytes) bytes, the file has \(file.size)")
        }

        var tensors: [String: Tensor] = [:]
        var order: [String] = []
        for entry in layout.entries {
            let start = Self.headerBytes + entry.floatOffset * 4
            let storage = try file.storage(start..<(start + entry.shape.reduce(1, *) * 4), what: entry.name)
            tensors[entry.name] = Tensor(shape: entry.shape, dtype: .f32, storage: storage)
            order.append(entry.name)
        }
        let headDim = h.dim / h.heads
        self.path = path
        self.config = ModelConfig(
            architecture: .llama, vocabSize: abs(h.vocab), hiddenSize: h.dim, intermediateSize: h.hidden,
            numLayers: h.layers, numHeads: h.heads, numKVHeads: h.kvHeads, headDim: headDim,
            maxPositions: h.seqLen, normEps: 1e-5, ropeTheta: 10000, ropeInterleaved: true,
            tieEmbeddings: h.vocab > 0, bosTokenId: 1, eosTokenId: 2)
        self.tensors = tensors
        self.order = order
    }

    struct Header {
        let dim, hidden, layers, heads, kvHeads, vocab, seqLen: Int
        var fields: String {
            "(dim \(dim), hidden_dim \(hidden), n_layers \(layers), n_heads \(heads), n_kv_heads \(kvHeads), vocab_size \(vocab), seq_len \(seqLen))"
        }
    }

    static func header(_ file: MappedFile) -> Header? {
        guard file.size >= headerBytes else { return nil }
        let v = (0..<7).map { Int(Int32(littleEndian: file.base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        return Header(dim: v[0], hidden: v[1], layers: v[2], heads: v[3], kvHeads: v[4], vocab: v[5], seqLen: v[6])
    }

    /// Whether `file` starts with a plausible header whose weights fill the file exactly:
    /// how the loader recognizes a llama2.c checkpoint, which has no magic bytes.
    static func looksLikeCheckpoint(_ file: MappedFile) -> Bool {
        guard let h = header(file), h.dim > 0, h.hidden > 0, h.layers > 0, h.heads > 0, h.kvHeads > 0,
              h.vocab != 0, h.seqLen > 0, h.dim % h.heads == 0, h.heads % h.kvHeads == 0,
              let layout = layout(h) else { return false }
        return file.size == headerBytes + layout.floats * 4
    }

    struct Entry { let name: String; let shape: [Int]; let floatOffset: Int }

    /// Every array of the file in order, with its offset in floats, and the total float count;
    /// `nil` when the sizes overflow. Skipped arrays (freq_cis) advance the offset unnamed.
    static func layout(_ h: Header) -> (entries: [Entry], floats: Int)? {
        let headDim = h.dim / h.heads
        let kvDim = h.kvHeads * headDim
        let vocab = abs(h.vocab)
        // The largest array is at most vocab, seq_len or hidden times dim; bound them first.
        let limit = Int(Int32.max)
        guard vocab <= limit / h.dim, h.hidden <= limit / h.dim, h.seqLen <= limit / headDim, h.layers <= 1 << 16 else { return nil }
        var entries: [Entry] = []
        var offset = 0
        var overflow = false
        func add(_ name: String?, _ shape: [Int]) {
            let n = shape.reduce(1, *)
            if let name { entries.append(Entry(name: name, shape: shape, floatOffset: offset)) }
            let (s, o) = offset.addingReportingOverflow(n)
            offset = s
            overflow = overflow || o
        }
        func perLayer(_ suffix: String, _ shape: [Int]) {
            for l in 0..<h.layers { add("model.layers.\(l).\(suffix)", shape) }
        }
        add("model.embed_tokens.weight", [vocab, h.dim])
        perLayer("input_layernorm.weight", [h.dim])
        perLayer("self_attn.q_proj.weight", [h.dim, h.dim])
        perLayer("self_attn.k_proj.weight", [kvDim, h.dim])
        perLayer("self_attn.v_proj.weight", [kvDim, h.dim])
        perLayer("self_attn.o_proj.weight", [h.dim, h.dim])
        perLayer("post_attention_layernorm.weight", [h.dim])
        perLayer("mlp.gate_proj.weight", [h.hidden, h.dim])
        perLayer("mlp.down_proj.weight", [h.dim, h.hidden])
        perLayer("mlp.up_proj.weight", [h.hidden, h.dim])
        add("model.norm.weight", [h.dim])
        add(nil, [h.seqLen, headDim / 2])  // freq_cis_real, unused: RoPE is computed
        add(nil, [h.seqLen, headDim / 2])  // freq_cis_imag
        if h.vocab < 0 { add("lm_head.weight", [vocab, h.dim]) }
        guard !overflow, offset <= Int.max / 4 - headerBytes else { return nil }
        return (entries, offset)
    }

    /// The tokenizer file llama2.c keeps beside a checkpoint: `tokenizer.bin`, or the only
    /// `tok*.bin` in the folder (`tok512.bin` for stories260K).
    static func findTokenizer(besides path: String) throws -> String {
        let folder = (path as NSString).deletingLastPathComponent
        let dir = folder.isEmpty ? "." : folder
        let standard = (dir as NSString).appendingPathComponent("tokenizer.bin")
        if FileManager.default.fileExists(atPath: standard) { return standard }
        let own = (path as NSString).lastPathComponent
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasPrefix("tok") && $0.hasSuffix(".bin") && $0 != own }
            .sorted()
        if candidates.count == 1 { return (dir as NSString).appendingPathComponent(candidates[0]) }
        let found = candidates.isEmpty ? "" : " (found several: \(candidates.joined(separator: ", ")))"
        throw LLMOptError.badFile(
            path: path,
            reason: "no tokenizer: looked for \(standard) and a single \(dir)/tok*.bin\(found); pass --tokenizer PATH")
    }

    /// The model, with the tokenizer from `tokenizerPath` or the one found beside the file.
    public func model(tokenizerPath: String? = nil) throws -> Model {
        let tokenizerFile = try tokenizerPath ?? Self.findTokenizer(besides: path)
        let tokenizer: (any Tokenizer)? = nil  // PENDING tokenizers merge: try Llama2CTokenizer(path: tokenizerFile, vocabSize: config.vocabSize)
        try WeightShapes.check(tensors, config: config, source: path)
        return Model(
            config: config, weights: tensors, weightOrder: order, tokenizer: tokenizer,
            format: .llama2c, sourcePath: path, metadata: ["tokenizer.path": tokenizerFile])
    }
}
