import ArgumentParser
import LLMOptCore

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarize a model, or show the statistics of one of its tensors.",
        discussion: """
        Without a tensor name: architecture, parameters by kind, bytes by dtype and a table of layers. \
        With one: shape, dtype, bytes, min/max/mean/std, L2 norm, fraction of zeros, outliers and a histogram. \
        Tensor names are Hugging Face's (model.layers.0.self_attn.q_proj.weight) whatever the file format.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "A tensor name; `--list` prints them all.")
    var tensor: String?

    @Flag(help: "List every tensor with its shape, dtype and bytes.")
    var list = false

    @Option(help: "Histogram bins.")
    var bins = 16

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            let model = try modelOptions.load()
            if list {
                let rows = model.weightOrder.compactMap { name in
                    model.weights[name].map { t in [name, t.shape.map(String.init).joined(separator: "x"), t.dtype.rawValue, Format.bytes(t.byteCount)] }
                }
                if json {
                    Terminal.printJSON(["tensors": model.weightOrder.compactMap { name in
                        model.weights[name].map { ["name": name, "shape": $0.shape, "dtype": $0.dtype.rawValue, "bytes": $0.byteCount] as [String: Any] }
                    }])
                } else {
                    print(Format.table([["tensor", "shape", "dtype", "bytes"]] + rows))
                }
                return
            }
            if let name = tensor {
                guard let t = model.weights[name] else {
                    let close = Suggest.closest(to: name, in: model.weightOrder)
                    throw LLMOptError.missingTensor(name: name + (close.map { " (did you mean '\($0)'?)" } ?? ""), source: modelOptions.model)
                }
                let stats = TensorStats(t, name: name, bins: bins)
                if json {
                    var object = Terminal.json(stats)
                    object["histogram"] = ["edges": stats.histogram.edges, "counts": stats.histogram.counts]
                    Terminal.printJSON(object)
                } else {
                    print(stats.description)
                }
                return
            }
            let summary = ModelSummary(model)
            if json {
                var object = Terminal.json(summary)
                object["bytes_by_dtype"] = Dictionary(uniqueKeysWithValues: summary.bytesByDType.map { ($0.key.rawValue, $0.value) })
                object["params_by_kind"] = Dictionary(uniqueKeysWithValues: summary.parametersByKind.map { ($0.key.rawValue, $0.value) })
                Terminal.printJSON(object)
            } else {
                print(summary.render())
            }
        }
    }
}

/// "Did you mean" suggestions by edit distance.
enum Suggest {
    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(Array(word), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
