import Foundation
import LLMOptCore

/// How values read as text: `plain` for `print` and interpolation, `rich` for a bare
/// expression at the prompt or in a script (summaries, statistics, tables, histograms).
public enum Display {
    public static func plain(_ v: Value) -> String {
        switch v {
        case .string(let s): return s
        case .text(let t): return t.content
        case .report(let r): return render(r)
        default: return literal(v)
        }
    }

    /// A value as it would be written in a script (strings quoted), for lists and records.
    public static func literal(_ v: Value) -> String { literal(v, depth: 0) }

    /// Lists and records deeper than this are shown as "[…]": a value nested 100,000 deep
    /// would overflow the stack.
    static let maxDepth = 64

    private static func literal(_ v: Value, depth: Int) -> String {
        switch v {
        case .null: return "nil"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return formatNumber(n)
        case .string(let s): return quoted(s)
        case .list(let items):
            if depth >= maxDepth && !items.isEmpty { return "[…]" }
            return "[" + items.map { literal($0, depth: depth + 1) }.joined(separator: ", ") + "]"
        case .record(let r):
            if r.count == 0 { return "[:]" }
            if depth >= maxDepth { return "[…]" }
            return "[" + r.pairs.map { "\(fieldKey($0)): \(literal($1, depth: depth + 1))" }.joined(separator: ", ") + "]"
        case .range(let r): return "\(r.start)..<\(r.end)"
        case .function(let f):
            switch f {
            case .builtin(let b): return "<built-in \(b.signature)>"
            case .user(let u): return "<fn \(u.declaration.name ?? "")(\(u.declaration.parameters.map(\.name).joined(separator: ", ")))>"
            }
        case .model(let m):
            return "<model \(m.config.architecture.rawValue) \(formatCount(m.parameterCount)) params\(m.sourcePath.map { " from \($0)" } ?? "")>"
        case .tensor(let t):
            return "<tensor \(t.name.map { $0 + " " } ?? "")[\(t.tensor.shape.map(String.init).joined(separator: ", "))] \(t.tensor.dtype.rawValue)>"
        case .text(let t):
            return "<text \(t.source.map { quoted($0) + ", " } ?? "")\(formatCount(t.content.count)) chars>"
        case .report(let r): return "<report \(r.title)>"
        case .plot(let p): return "<plot \(p.title.isEmpty ? p.style.rawValue : quoted(p.title)), \(p.series.count) series>"
        }
    }

    private static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t") + "\""
    }

    private static func fieldKey(_ k: String) -> String {
        let isIdentifier = k.first.map { $0.isLetter || $0 == "_" } == true && k.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
        return isIdentifier ? k : quoted(k)
    }

    /// The multi-line form a bare expression shows in a terminal.
    public static func rich(_ v: Value) -> String {
        switch v {
        case .model(let m): return render(ModelOverview.report(m))
        case .tensor(let t): return render(TensorStatistics.report(t))
        case .report(let r): return render(r)
        case .text(let t):
            let preview = t.content.prefix(160).replacingOccurrences(of: "\n", with: " ")
            return "\(literal(v))\n  \(preview)\(t.content.count > 160 ? "…" : "")"
        case .plot(let p): return renderPlot(p)
        case .record(let r) where r.count > 0 && r.pairs.contains(where: { if case .tensor = $1 { return true }; if case .record = $1 { return true }; return false }):
            let width = r.keys.map(\.count).max() ?? 0
            return r.pairs.map { k, v in k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + literal(v) }.joined(separator: "\n")
        default: return literal(v)
        }
    }

    public static func render(_ r: Report) -> String {
        var out = [r.title]
        out += r.lines.map { "  " + $0 }
        if let t = r.table { out += renderTable(t).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 } }
        if let h = r.histogram { out += renderHistogram(h).map { "  " + $0 } }
        return out.joined(separator: "\n")
    }

    /// Columns padded to their widest cell; cells that read as numbers are right-aligned.
    public static func renderTable(_ t: Table) -> String {
        let columnCount = t.columns.count
        var widths = t.columns.map(\.count)
        for row in t.rows { for (i, cell) in row.prefix(columnCount).enumerated() { widths[i] = max(widths[i], cell.count) } }
        let numeric = (0..<columnCount).map { i in t.rows.allSatisfy { i < $0.count && looksNumeric($0[i]) } && !t.rows.isEmpty }
        func line(_ cells: [String]) -> String {
            cells.prefix(columnCount).enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return numeric[i] ? pad + c : c + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var lines = [line(t.columns), widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")]
        lines += t.rows.map(line)
        return lines.joined(separator: "\n")
    }

    static func looksNumeric(_ s: String) -> Bool {
        let core = s.trimmingCharacters(in: CharacterSet(charactersIn: "%x×±KMGiBkb "))
        return !core.isEmpty && Double(core.replacingOccurrences(of: ",", with: "")) != nil || s == "-"
    }

    /// A histogram as one line of block characters with the range under it.
    static func renderHistogram(_ h: Histogram) -> [String] {
        let blocks: [Character] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
        let peak = max(1, h.counts.max() ?? 1)
        let bar = String(h.counts.map { c in c == 0 ? blocks[0] : blocks[max(1, Int((Double(c) / Double(peak) * 8).rounded()))] })
        let low = format4(h.edges.first ?? 0), high = format4(h.edges.last ?? 0)
        let gap = max(1, bar.count - low.count - high.count)
        return ["│" + bar + "│", " " + low + String(repeating: " ", count: gap) + high]
    }

    /// A plot in a terminal: one row of blocks per series (its shape), with its range.
    static func renderPlot(_ p: Plot) -> String {
        var out = ["plot\(p.title.isEmpty ? "" : " " + p.title) (\(p.style.rawValue); x: \(p.xLabel.isEmpty ? "x" : p.xLabel), y: \(p.yLabel.isEmpty ? "y" : p.yLabel))"]
        let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
        for s in p.series {
            let lo = s.y.min() ?? 0, hi = s.y.max() ?? 0
            let bar = String(s.y.map { y in blocks[hi > lo ? min(7, Int((y - lo) / (hi - lo) * 7.999)) : 3] })
            out.append("  \(s.name.isEmpty ? "series" : s.name): \(bar)  [\(format4(lo)) … \(format4(hi))]")
        }
        return out.joined(separator: "\n")
    }
}

/// Integers without a fraction, other numbers in Swift's shortest exact form.
func formatNumber(_ n: Double) -> String {
    if n.isNaN { return "nan" }
    if n.isInfinite { return n > 0 ? "inf" : "-inf" }
    if n == n.rounded(), abs(n) < 1e15 { return String(Int64(n)) }
    return "\(n)"
}

/// Four significant digits, trailing zeros kept ("75.00 ± 5.833", not "75 ± 5.833"; whole numbers
/// stay whole), for tables and statistics.
func format4(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x == x.rounded(), abs(x) < 1e4 { return String(Int(x)) }
    if abs(x) >= 1e4 && abs(x) < 1e9 { return String(format: "%.0f", x) }
    if abs(x) >= 1e9 || abs(x) < 1e-4 { return String(format: "%.3e", x) }
    var s = String(format: "%#.4g", x)
    if s.contains("e") { s = String(format: "%.4f", x) }
    return s
}

func formatPercent(_ fraction: Double) -> String { String(format: "%.1f%%", fraction * 100) }

/// 1234567 → "1.23 M".
func formatCount(_ n: Int) -> String {
    let x = Double(n)
    if x >= 1e9 { return String(format: "%.2f G", x / 1e9) }
    if x >= 1e6 { return String(format: "%.2f M", x / 1e6) }
    if x >= 1e4 { return String(format: "%.1f K", x / 1e3) }
    return String(n)
}
