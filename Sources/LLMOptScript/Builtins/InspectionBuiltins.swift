import LLMOptCore

extension Builtins {
    /// Looking inside models and tensors.
    static let inspection: [Builtin] = [
        Builtin("stats", family: "inspection", parameters: [.init("tensor", "a tensor, e.g. m.layers[0].attention.wq")],
                summary: "Statistics of a tensor's values: shape, dtype, bytes, min, max, mean, standard deviation, L2 norm, fraction of zeros, outliers beyond 6σ, and a 40-bin histogram.",
                math: """
                mean = Σ w / n     std = sqrt(Σ w² / n − mean²)     l2 = sqrt(Σ w²)
                sparsity = #{w = 0} / n     outliers = #{|w − mean| > 6·std}
                Quantized tensors are dequantized first.
                """,
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\nstats(m.layers[0].mlp.up).std") { args in
            let t = try args.tensor("tensor")
            return .report(TensorStatistics.report(t))
        },
        Builtin("summary", family: "inspection", parameters: [.init("model", "a model")],
                summary: "A model's sizes and configuration, with parameters and bytes by layer. A bare model shows the same.",
                example: "summary(load(\"Tests/Fixtures/models/tiny-llama\")).params") { args in
            .report(ModelOverview.report(try args.model("model")))
        },
        Builtin("tensors", family: "inspection",
                parameters: [.init("model", "a model"), .init("pattern", .absent, "keep names containing this text")],
                summary: "A table of a model's tensors (name, shape, dtype, bytes), optionally those whose name contains a pattern; its `names` field lists them.",
                example: "tensors(load(\"Tests/Fixtures/models/tiny-llama\"), \"mlp\")") { args in
            let m = try args.model("model")
            let pattern = try args.optionalString("pattern")
            let names = m.weightOrder.filter { pattern == nil || $0.contains(pattern!) }
            let rows = names.map { n -> [String] in
                let t = m.weights[n]!
                return [n, t.shape.map(String.init).joined(separator: "×"), t.dtype.rawValue, Format.bytes(t.byteCount)]
            }
            var fields = Record()
            fields["names"] = .list(names.map { .string($0) })
            fields["count"] = .number(Double(names.count))
            return .report(Report(title: "\(names.count) tensors\(pattern.map { " matching \"\($0)\"" } ?? "")", fields: fields,
                                  table: Table(columns: ["name", "shape", "dtype", "bytes"], rows: rows)))
        },
        Builtin("sparsity", family: "inspection", parameters: [.init("value", "a model or a tensor")],
                summary: "The fraction of weights that are exactly zero: of a tensor, or of a model's linear layers (every 2-D weight but the embeddings and the LM head, the weights pruning touches).",
                math: "sparsity = #{w = 0} / #w, summed over the tensors counted",
                example: "sparsity(load(\"Tests/Fixtures/models/tiny-llama\"))   # 0 for a dense model") { args in
            switch args.value("value") {
            case .tensor(let t):
                return .number(zeroFraction([t.tensor]))
            case .model(let m):
                let linear = m.weightOrder.compactMap { name -> Tensor? in
                    guard let t = m.weights[name], t.rank == 2, !m.config.architecture.family.isEmbeddingOrHead(name) else { return nil }
                    return t
                }
                return .number(zeroFraction(linear))
            case let v:
                throw ScriptError("sparsity: expected a model or a tensor, got a \(v.typeName)")
            }
        },
    ]

    private static func zeroFraction(_ tensors: [Tensor]) -> Double {
        var zeros = 0, total = 0
        for t in tensors {
            total += t.count
            zeros += t.floats().reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        }
        return total == 0 ? 0 : Double(zeros) / Double(total)
    }
}
