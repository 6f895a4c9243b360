import Foundation
import LLMOptCore

/// `value.name` for every kind of value. Models expose their configuration, sizes and a tree
/// of friendly layer names (`m.layers[0].attention.wq`, `m.layers[1].mlp.up`); tensors their
/// statistics; reports their measured fields.
enum Fields {
    static func get(_ name: String, of value: Value) throws -> Value {
        let fields: Record
        switch value {
        case .record(let r): fields = r
        case .report(let r): fields = r.fields
        case .model(let m): fields = ModelView.fields(of: m)
        case .tensor(let t): fields = TensorStatistics.fields(TensorStatistics.of(t))
        case .text(let t): fields = textFields(t)
        case .range(let r): fields = Record([("start", .number(Double(r.start))), ("end", .number(Double(r.end))), ("count", .number(Double(r.count)))])
        default: throw ScriptError("a \(value.typeName) has no fields (asked for '\(name)')")
        }
        guard let v = fields[name] else {
            throw ScriptError("\(describe(value)) has no field '\(name)'\(suggestion(for: name, in: fields.keys))")
        }
        return v
    }

    /// Field names of a value, for completion after a dot.
    static func names(of value: Value) -> [String] {
        switch value {
        case .record(let r): return r.keys
        case .report(let r): return r.fields.keys
        case .model(let m): return ModelView.fields(of: m).keys
        case .tensor: return TensorStatistics.fieldNames
        case .text(let t): return textFields(t).keys
        case .range: return ["start", "end", "count"]
        default: return []
        }
    }

    private static func describe(_ v: Value) -> String {
        switch v {
        case .report(let r): return "the \(r.title) report"
        default: return "a \(v.typeName)"
        }
    }

    static func textFields(_ t: TextValue) -> Record {
        var r = Record()
        r["content"] = .string(t.content)
        r["chars"] = .number(Double(t.content.count))
        r["lines"] = .number(Double(t.content.split(separator: "\n", omittingEmptySubsequences: false).count))
        r["bytes"] = .number(Double(t.content.utf8.count))
        r["path"] = t.source.map { .string($0) } ?? .null
        return r
    }
}

/// The friendly view of a model's weights used by field access.
enum ModelView {
    static func fields(of m: Model) -> Record {
        let c = m.config
        // The sizes and configuration under the names `llmopt inspect --json` gives them.
        var r = Record(measurement: ModelSummary(m))
        r["path"] = m.sourcePath.map { .string($0) } ?? .null
        r["tensors"] = .list(m.weightOrder.map { .string($0) })
        r["layers"] = .list((0..<c.numLayers).map { .record(layer($0, of: m)) })
        for (field, name) in c.architecture.family.scriptNames {
            if let t = m[name] { r[field] = .tensor(TensorValue(name: name, tensor: t)) }
        }
        if r["lm_head"] == nil, c.tieEmbeddings, let e = r["embedding"] { r["lm_head"] = e }
        return r
    }

    /// Friendly names of one layer's tensors: `attention.{wq,wk,wv,wo}`, `mlp.{gate,up,down}`,
    /// `attention_norm`, `mlp_norm` (GPT-2: `attention.qkv`, biases as `..._bias`). Tensors
    /// without a friendly name keep their own name, dots turned to underscores.
    static func layer(_ i: Int, of m: Model) -> Record {
        let family = m.config.architecture.family
        let prefix = family.names.prefix(i)
        let names = family.scriptLayerNames
        var groups: [String: Record] = ["attention": Record(), "mlp": Record()]
        var r = Record()
        r["attention"] = .null
        r["mlp"] = .null
        // Friendly names in their canonical order, then whatever else the layer holds.
        for (suffix, group, field) in names {
            guard let t = m.weights[prefix + suffix] else { continue }
            let value = Value.tensor(TensorValue(name: prefix + suffix, tensor: t))
            if let group { groups[group, default: Record()][field] = value } else { r[field] = value }
        }
        let known = Set(names.map(\.suffix))
        for name in m.weightOrder where name.hasPrefix(prefix) && !known.contains(String(name.dropFirst(prefix.count))) {
            let suffix = String(name.dropFirst(prefix.count))
            let field = suffix.hasSuffix(".weight") ? String(suffix.dropLast(7)) : suffix
            r[field.replacingOccurrences(of: ".", with: "_")] = .tensor(TensorValue(name: name, tensor: m.weights[name]!))
        }
        for (group, record) in groups.sorted(by: { $0.key < $1.key }) { r[group] = .record(record) }
        return r
    }
}

/// Field access and display of the engine's tensor statistics.
enum TensorStatistics {
    static let fieldNames = ["name", "shape", "dtype", "bytes", "count", "min", "max", "mean", "std", "l2", "sparsity", "outliers"]

    /// Statistics with a 40-bin histogram (the width of a terminal line).
    static func of(_ t: TensorValue) -> TensorStats { TensorStats(t.tensor, name: t.name, bins: 40) }

    static func fields(_ s: TensorStats) -> Record { Record(measurement: s) }

    /// The report `stats(t)` returns and a bare tensor shows.
    static func report(_ t: TensorValue) -> Report {
        let s = of(t)
        let shape = s.shape.map(String.init).joined(separator: " × ")
        return Report(
            title: "tensor \(s.name ?? "")".trimmingCharacters(in: .whitespaces),
            fields: fields(s),
            lines: [
                "[\(shape)] \(s.dtype.rawValue), \(formatCount(s.count)) values, \(Format.bytes(s.bytes))",
                "min \(format4(s.min))  max \(format4(s.max))  mean \(format4(s.mean))  std \(format4(s.std))",
                "l2 \(format4(s.l2))  zeros \(formatPercent(s.zeroFraction))  outliers (>\(formatNumber(s.outlierSigmas))σ) \(s.outliers)",
            ],
            histogram: s.histogram
        )
    }
}

extension Record {
    /// A measurement's fields as the language shows them: the same names, in the same order, as
    /// the command line's `--json`.
    init(measurement m: MeasurementRecord) {
        self.init()
        for (name, value) in m.fields {
            switch value {
            case .number(let x): self[name] = .number(x)
            case .integer(let i): self[name] = .number(Double(i))
            case .text(let s): self[name] = .string(s)
            case .integers(let a): self[name] = .list(a.map { .number(Double($0)) })
            case .missing: self[name] = .null
            }
        }
    }
}
