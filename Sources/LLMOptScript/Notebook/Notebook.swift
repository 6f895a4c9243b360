import Foundation
import LLMOptCore

/// The file formats a notebook can be written in, chosen by the output's extension.
public enum NotebookFormat {
    case markdown, html

    public init?(path: String) {
        switch (path as NSString).pathExtension.lowercased() {
        case "md", "markdown": self = .markdown
        case "html", "htm": self = .html
        default: return nil
        }
    }
}

/// A script run as a notebook: each top-level statement's source followed by what it printed
/// and showed.
public struct Notebook {
    public enum Output {
        case text(String)
        case value(Value)
        case error(String)
    }

    public struct Cell {
        public var source: String
        public var outputs: [Output]
    }

    public var title: String
    public var cells: [Cell] = []

    public func render(_ format: NotebookFormat) -> String {
        switch format {
        case .markdown: return MarkdownNotebook.render(self)
        case .html: return HTMLNotebook.render(self)
        }
    }
}

/// An output sink that records a notebook.
public final class NotebookRecorder: OutputSink {
    public private(set) var notebook: Notebook

    public init(file: SourceFile) {
        notebook = Notebook(title: (file.name as NSString).lastPathComponent)
    }

    /// Starts a cell with the statement's lines, the comment lines right above it and a
    /// comment at the end of its last line: comments read as the notebook's prose.
    public func beginStatement(_ statement: Stmt) {
        let file = statement.location.file
        var first = file.lineColumn(of: statement.range.lowerBound).line
        let last = file.lineColumn(of: max(statement.range.lowerBound, statement.range.upperBound - 1)).line
        while first > 1, file.line(first - 1).trimmingCharacters(in: .whitespaces).hasPrefix("#") { first -= 1 }
        let source = (first...last).map { file.line($0) }.joined(separator: "\n")
        notebook.cells.append(Notebook.Cell(source: source, outputs: []))
    }

    private func append(_ output: Notebook.Output) {
        if notebook.cells.isEmpty { notebook.cells.append(Notebook.Cell(source: "", outputs: [])) }
        // Consecutive printed lines share one block.
        if case .text(let new) = output, case .text(let old)? = notebook.cells[notebook.cells.count - 1].outputs.last {
            notebook.cells[notebook.cells.count - 1].outputs[notebook.cells[notebook.cells.count - 1].outputs.count - 1] = .text(old + "\n" + new)
            return
        }
        notebook.cells[notebook.cells.count - 1].outputs.append(output)
    }

    public func write(_ text: String) { append(.text(text)) }
    public func show(_ value: Value) { append(.value(value)) }

    /// The error that stopped the script, shown under the statement that raised it.
    func fail(_ message: String) { append(.error(message)) }
}

/// Markdown: code in fenced blocks, reports as pipe tables, charts as inline SVG images.
enum MarkdownNotebook {
    static func render(_ nb: Notebook) -> String {
        var out = ["# \(nb.title)", ""]
        for cell in nb.cells {
            if !cell.source.isEmpty { out += ["```llmopt", cell.source, "```", ""] }
            for o in cell.outputs {
                switch o {
                case .text(let t): out += ["```text", t, "```", ""]
                case .error(let e): out += ["```text", e, "```", ""]
                case .value(let v): out += value(v) + [""]
                }
            }
        }
        return out.joined(separator: "\n")
    }

    private static func image(_ svg: String, _ alt: String) -> String {
        "![\(alt)](data:image/svg+xml;base64,\(Data(svg.utf8).base64EncodedString()))"
    }

    private static func value(_ v: Value) -> [String] {
        switch v {
        case .report, .model, .tensor:
            let r = NotebookReport.of(v)!
            var out = ["**\(escape(r.title))**", ""]
            if !r.lines.isEmpty { out += ["```text"] + r.lines + ["```", ""] }
            if let t = r.table {
                out.append("| " + t.columns.map(escape).joined(separator: " | ") + " |")
                out.append("|" + t.columns.indices.map { i in t.rows.allSatisfy { i < $0.count && Display.looksNumeric($0[i]) } ? " ---: |" : " --- |" }.joined())
                out += t.rows.map { "| " + $0.map(escape).joined(separator: " | ") + " |" }
                out.append("")
            }
            if let h = r.histogram { out.append(image(SVG.histogram(h), "histogram")) }
            return out
        case .plot(let p):
            return [image(SVG.plot(p), p.title.isEmpty ? "plot" : p.title)]
        default:
            return ["```text", Display.rich(v), "```"]
        }
    }

    private static func escape(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
}

/// The report form of values that display as reports.
enum NotebookReport {
    static func of(_ v: Value) -> Report? {
        switch v {
        case .report(let r): return r
        case .model(let m): return ModelOverview.report(m)
        case .tensor(let t): return TensorStatistics.report(t)
        default: return nil
        }
    }
}
