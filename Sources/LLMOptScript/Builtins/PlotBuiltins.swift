extension Builtins {
    /// Charts (drawn as SVG in notebooks, as block characters in a terminal).
    static let plotting: [Builtin] = [
        Builtin("plot", family: "plotting",
                parameters: [
                    .init("x", "x values; or, given alone, the y values (x is then 0, 1, 2...)"),
                    .init("y", .absent, "y values: a list of numbers, a list of lists (several series), or a record of named lists"),
                    .init("style", .value(.string("line")), "\"line\", \"scatter\" or \"bar\""),
                    .init("title", .value(.string("")), "title above the chart"),
                    .init("xlabel", .value(.string("")), "label of the x axis"),
                    .init("ylabel", .value(.string("")), "label of the y axis"),
                    .init("names", .absent, "names of the series, for the legend"),
                ],
                summary: "A chart of one or more series as lines, points or bars. In a notebook it is an SVG image.",
                example: """
                let s = [0.1, 0.3, 0.5]
                plot(s, [ppl: [10, 12, 20], kld: [0.01, 0.05, 0.3]], style: "line", xlabel: "sparsity", ylabel: "value")
                """) { args in
            let styleName = try args.string("style")
            guard let style = Plot.Style(rawValue: styleName) else {
                throw ScriptError("plot: unknown style '\(styleName)'\(suggestion(for: styleName, in: Plot.Style.allCases.map(\.rawValue))) (line, scatter, bar)")
            }
            let xs: [Double]?
            let ySpec: Value
            if args.has("y") {
                xs = try args.numbers("x")
                ySpec = args.value("y")
            } else {
                xs = nil
                ySpec = args.value("x")
            }
            var named: [(String, Value)]
            switch ySpec {
            case .record(let r): named = r.pairs
            case .list(let items) where items.contains(where: { if case .list = $0 { return true }; return false }):
                named = items.enumerated().map { ("series \($0.offset + 1)", $0.element) }
            case .list, .range: named = [("", ySpec)]
            default: throw ScriptError("plot: y must be a list of numbers, a list of lists or a record of lists, got a \(ySpec.typeName)")
            }
            if args.has("names") {
                let names = try args.list("names").map(Display.plain)
                guard names.count == named.count else { throw ScriptError("plot: \(names.count) names for \(named.count) series") }
                named = zip(names, named).map { ($0, $1.1) }
            }
            var series: [Plot.Series] = []
            for (name, v) in named {
                let ys: [Double]
                switch v {
                case .list(let l):
                    ys = try l.map { e in
                        guard case .number(let n) = e else { throw ScriptError("plot: series values must be numbers, found a \(e.typeName)") }
                        return n
                    }
                case .range(let r): ys = try Limits.list(of: r, for: "plot: series '\(name)'").map { if case .number(let n) = $0 { return n } else { return 0 } }
                default: throw ScriptError("plot: series '\(name)' must be a list of numbers, got a \(v.typeName)")
                }
                let x = xs ?? ys.indices.map(Double.init)
                guard x.count == ys.count else {
                    throw ScriptError("plot: \(x.count) x values but \(ys.count) y values\(name.isEmpty ? "" : " in series '\(name)'")")
                }
                series.append(Plot.Series(name: name, x: x, y: ys))
            }
            return .plot(Plot(style: style, series: series, title: try args.string("title"),
                              xLabel: try args.string("xlabel"), yLabel: try args.string("ylabel")))
        },
    ]
}
