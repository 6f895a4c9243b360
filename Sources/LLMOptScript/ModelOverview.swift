import LLMOptCore

/// The summary a bare model shows and `summary(m)` returns: sizes, configuration, and a
/// table of parameters and bytes by layer.
enum ModelOverview {
    static func report(_ m: Model) -> Report {
        let c = m.config
        var fields = ModelView.fields(of: m)
        fields["layers"] = nil
        fields["tensors"] = .number(Double(m.weights.count))
        var dtypeCounts: [String: Int] = [:]
        for t in m.weights.values { dtypeCounts[t.dtype.rawValue, default: 0] += t.count }
        let dtypes = dtypeCounts.sorted { $0.value > $1.value }.map { "\($0.key) \(formatPercent(Double($0.value) / Double(max(1, m.parameterCount))))" }
        let zeros = m.weights.values.reduce(0) { $0 + ($1.dtype.isFloat ? $1.floats().reduce(0) { $0 + ($1 == 0 ? 1 : 0) } : 0) }
        fields["sparsity"] = .number(Double(zeros) / Double(max(1, m.parameterCount)))

        // Group tensors: the embedding and head, then one row per layer.
        let family = c.architecture.family
        let layerPrefix = family.names.layerPrefix
        var rows: [(String, Int, Int, Int, Set<String>)] = []
        func add(_ part: String, _ t: Tensor) {
            if let i = rows.firstIndex(where: { $0.0 == part }) {
                rows[i].1 += 1; rows[i].2 += t.count; rows[i].3 += t.byteCount; rows[i].4.insert(t.dtype.rawValue)
            } else {
                rows.append((part, 1, t.count, t.byteCount, [t.dtype.rawValue]))
            }
        }
        for name in m.weightOrder {
            guard let t = m.weights[name] else { continue }
            if name.hasPrefix(layerPrefix), let n = Int(name.dropFirst(layerPrefix.count).prefix { $0.isNumber }) {
                add("layer \(n)", t)
            } else {
                add(name.replacingOccurrences(of: ".weight", with: ""), t)
            }
        }
        // Embeddings first, then the layers in order, then the final norm and the head.
        func rank(_ part: String) -> Int {
            if part.hasPrefix("layer ") { return 1 }
            let embeddings = [family.names.embedding, family.names.positions].compactMap { $0?.replacingOccurrences(of: ".weight", with: "") }
            if embeddings.contains(part) { return 0 }
            return part == family.names.head.replacingOccurrences(of: ".weight", with: "") ? 3 : 2
        }
        // Layers by number: a GGUF file lists its tensors by name, so blk.10 comes before blk.2.
        func layerIndex(_ part: String) -> Int { part.hasPrefix("layer ") ? Int(part.dropFirst(6)) ?? 0 : 0 }
        rows = rows.enumerated().sorted {
            (rank($0.element.0), layerIndex($0.element.0), $0.offset) < (rank($1.element.0), layerIndex($1.element.0), $1.offset)
        }.map(\.element)
        let table = Table(
            columns: ["part", "tensors", "params", "bytes", "dtype"],
            rows: rows.map { [$0.0, String($0.1), formatCount($0.2), Format.bytes($0.3), $0.4.sorted().joined(separator: ",")] }
        )
        return Report(
            title: "model \(c.architecture.rawValue) (\(m.format.rawValue)\(m.sourcePath.map { ", \($0)" } ?? ""))",
            fields: fields,
            lines: [
                "\(formatCount(m.parameterCount)) parameters, \(Format.bytes(m.byteCount)), \(m.weights.count) tensors (\(dtypes.joined(separator: ", "))), sparsity \(formatPercent(Double(zeros) / Double(max(1, m.parameterCount))))",
                "\(c.numLayers) layers, hidden \(c.hiddenSize), ffn \(c.intermediateSize), heads \(c.numHeads) (kv \(c.numKVHeads)), head dim \(c.headDim), vocab \(c.vocabSize), context \(c.maxPositions)",
            ],
            table: table
        )
    }
}
