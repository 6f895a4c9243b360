import Foundation

/// What a model is made of: parameters by kind, bytes by dtype, and a per-layer table.
public struct ModelSummary: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case embedding, attention, mlp, norm, head, other
    }

    public struct Layer: Sendable, Equatable {
        public let index: Int
        public let heads: Int
        public let kvHeads: Int
        public let ffn: Int
        public let parameters: Int
        public let bytes: Int
        /// The dtypes of the layer's linear weights ("q4_1", or "q4_1/q8_0" when mixed).
        public let dtype: String
    }

    public let architecture: Architecture
    public let config: ModelConfig
    public let format: ModelFormat
    public let source: String?
    public let parameters: Int
    public let bytes: Int
    public let parametersByKind: [Kind: Int]
    public let bytesByDType: [DType: Int]
    public let layers: [Layer]

    public init(_ model: Model) {
        let c = model.config
        architecture = c.architecture
        config = c
        format = model.format
        source = model.sourcePath
        parameters = model.parameterCount
        bytes = model.byteCount
        var byKind: [Kind: Int] = [:], byDType: [DType: Int] = [:]
        for (name, t) in model.weights {
            byKind[Self.kind(of: name, in: c.architecture.family), default: 0] += t.count
            byDType[t.dtype, default: 0] += t.byteCount
        }
        parametersByKind = byKind
        bytesByDType = byDType
        let family = c.architecture.family
        layers = (0..<c.numLayers).map { i in
            let prefix = family.names.prefix(i)
            let tensors = model.weights.filter { $0.key.hasPrefix(prefix) }
            let linear = tensors.filter { $0.value.rank == 2 }
            let dtypes = Set(linear.values.map(\.dtype.rawValue)).sorted().joined(separator: "/")
            let w = family.block.widths(layer: i, weights: model.weights, config: c)
            return Layer(index: i, heads: w.heads, kvHeads: w.kvHeads, ffn: w.ffn,
                         parameters: tensors.values.reduce(0) { $0 + $1.count },
                         bytes: tensors.values.reduce(0) { $0 + $1.byteCount }, dtype: dtypes)
        }
    }

    /// The part of the network a weight belongs to, as its family's description places it.
    public static func kind(of name: String, in family: any ModelFamily) -> Kind {
        let names = family.names, block = family.block
        if name == names.head { return .head }
        if name == names.embedding || name == names.positions { return .embedding }
        if name == names.finalNorm || name == names.finalNormBias || block.isNorm(name) { return .norm }
        guard let (_, suffix) = names.split(name) else { return .other }
        func member(_ weights: [String]) -> Bool {
            weights.contains { suffix == $0 || suffix == $0.replacingSuffix(".weight", with: ".bias") }
        }
        if member(block.attentionInputs + [block.attentionOutput]) { return .attention }
        if member(block.mlpInputs + [block.mlpOutput]) { return .mlp }
        return .other
    }

    public var description: String { render() }

    public func render() -> String {
        let c = config
        var lines: [String] = []
        lines.append("\(c.architecture.family.displayName) model, \(Format.count(parameters)) parameters, \(Format.bytes(bytes))"
                     + (source.map { " (\(format.rawValue): \($0))" } ?? ""))
        var shape = "  \(c.numLayers) layers, hidden \(c.hiddenSize), \(c.numHeads) heads"
        if c.numKVHeads != c.numHeads { shape += " (\(c.numKVHeads) KV heads)" }
        shape += " of \(c.headDim), FFN \(c.intermediateSize), vocab \(c.vocabSize), context \(c.maxPositions)"
        lines.append(shape)
        if c.architecture.family.usesRotaryPositions {
            lines.append("  RoPE theta \(Format.value(Double(c.ropeTheta))) (\(c.ropeInterleaved ? "interleaved pairs" : "rotate-half")), "
                         + "RMSNorm eps \(Format.value(Double(c.normEps))), \(c.tieEmbeddings || !hasHead ? "tied" : "separate") LM head")
        }
        lines.append("")
        var kinds: [[String]] = [["parameters", "count", "share"]]
        for k in Kind.allCases {
            guard let n = parametersByKind[k], n > 0 else { continue }
            kinds.append([k.rawValue, Format.count(n), Format.percent(Double(n) / Double(max(parameters, 1)))])
        }
        lines.append(Format.table(kinds, indent: "  "))
        lines.append("")
        var dtypes: [[String]] = [["dtype", "bytes", "share"]]
        for (d, b) in bytesByDType.sorted(by: { $0.value > $1.value }) {
            dtypes.append([d.rawValue, Format.bytes(b), Format.percent(Double(b) / Double(max(bytes, 1)))])
        }
        lines.append(Format.table(dtypes, indent: "  "))
        lines.append("")
        var table: [[String]] = [["layer", "heads", "kv heads", "ffn", "params", "bytes", "dtype"]]
        for l in layers {
            table.append(["\(l.index)", "\(l.heads)", "\(l.kvHeads)", "\(l.ffn)", Format.count(l.parameters), Format.bytes(l.bytes), l.dtype])
        }
        lines.append(Format.table(table, indent: "  "))
        return lines.joined(separator: "\n")
    }

    private var hasHead: Bool { (parametersByKind[.head] ?? 0) > 0 }
}
