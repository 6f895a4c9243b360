import Foundation

/// A self-contained HTML page: inline CSS, inline SVG, no scripts or external files.
enum HTMLNotebook {
    static func render(_ nb: Notebook) -> String {
        var body: [String] = []
        for (i, cell) in nb.cells.enumerated() {
            var parts: [String] = []
            if !cell.source.isEmpty {
                parts.append("<div class=\"in\"><span class=\"n\">[\(i + 1)]</span><pre class=\"code\">\(highlight(cell.source))</pre></div>")
            }
            for o in cell.outputs {
                switch o {
                case .text(let t): parts.append("<pre class=\"out\">\(escape(t))</pre>")
                case .error(let e): parts.append("<pre class=\"out err\">\(escape(e))</pre>")
                case .value(let v): parts.append(value(v))
                }
            }
            body.append("<section class=\"cell\">\n" + parts.joined(separator: "\n") + "\n</section>")
        }
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(nb.title))</title>
        <style>
        \(css)
        </style>
        </head>
        <body>
        <header><h1>\(escape(nb.title))</h1><p class="sub">llmopt notebook</p></header>
        <main>
        \(body.joined(separator: "\n"))
        </main>
        </body>
        </html>

        """
    }

    private static func value(_ v: Value) -> String {
        if case .plot(let p) = v { return "<figure class=\"plot\">\(SVG.plot(p))</figure>" }
        guard let r = NotebookReport.of(v) else { return "<pre class=\"out\">\(escape(Display.rich(v)))</pre>" }
        var out = ["<div class=\"report\">", "<div class=\"title\">\(escape(r.title))</div>"]
        if !r.lines.isEmpty { out.append("<pre class=\"lines\">\(escape(r.lines.joined(separator: "\n")))</pre>") }
        if let t = r.table {
            let numeric = t.columns.indices.map { i in !t.rows.isEmpty && t.rows.allSatisfy { i < $0.count && Display.looksNumeric($0[i]) } }
            out.append("<table><thead><tr>" + t.columns.enumerated().map { "<th\(numeric[$0.offset] ? " class=\"num\"" : "")>\(escape($0.element))</th>" }.joined() + "</tr></thead><tbody>")
            for row in t.rows {
                out.append("<tr>" + row.enumerated().map { "<td\(numeric[min($0.offset, numeric.count - 1)] ? " class=\"num\"" : "")>\(escape($0.element))</td>" }.joined() + "</tr>")
            }
            out.append("</tbody></table>")
        }
        if let h = r.histogram { out.append("<figure class=\"hist\">\(SVG.histogram(h))</figure>") }
        out.append("</div>")
        return out.joined(separator: "\n")
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Colors keywords, strings, numbers and comments of a statement's source.
    static func highlight(_ source: String) -> String {
        var out = ""
        let chars = Array(source)
        var i = 0
        func span(_ cls: String, _ text: String) { out += "<span class=\"\(cls)\">\(escape(text))</span>" }
        while i < chars.count {
            let c = chars[i]
            if c == "#" {
                var j = i
                while j < chars.count, !chars[j].isNewline { j += 1 }
                span("c", String(chars[i..<j])); i = j
            } else if c == "\"" {
                var j = i + 1
                while j < chars.count, chars[j] != "\"", !chars[j].isNewline { j += chars[j] == "\\" ? 2 : 1 }
                j = min(chars.count, j + 1)
                span("s", String(chars[i..<j])); i = j
            } else if c.isLetter || c == "_" {
                var j = i
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                let word = String(chars[i..<j])
                if Keyword(rawValue: word) != nil { span("k", word) }
                else if j < chars.count, chars[j] == "(", Builtins.byName[word] != nil { span("b", word) }
                else { out += escape(word) }
                i = j
            } else if c.isASCII && c.isNumber {
                var j = i
                while j < chars.count, chars[j].isNumber || chars[j] == "." || chars[j] == "_" || chars[j] == "e" {
                    if chars[j] == ".", j + 1 < chars.count, chars[j + 1] == "." { break }
                    j += 1
                }
                span("m", String(chars[i..<j])); i = j
            } else {
                out += escape(String(c)); i += 1
            }
        }
        return out
    }

    static let css = """
    :root { --ink: #1d2433; --muted: #5f6b7a; --line: #e3e7ee; --bg: #f6f8fb; --card: #ffffff; --accent: #2f6fde; }
    * { box-sizing: border-box; }
    body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
    header { background: #1d2433; color: #fff; padding: 22px 32px; }
    header h1 { margin: 0; font-size: 22px; font-weight: 600; }
    header .sub { margin: 4px 0 0; color: #aeb8c8; font-size: 13px; }
    main { max-width: 980px; margin: 24px auto; padding: 0 20px; }
    .cell { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 0 0 16px; overflow: hidden; }
    .in { display: flex; background: #fbfcfe; border-bottom: 1px solid var(--line); }
    .in .n { color: var(--muted); font: 12px/1 ui-monospace, Menlo, Consolas, monospace; padding: 12px 0 0 12px; min-width: 44px; }
    pre { margin: 0; font: 13px/1.45 ui-monospace, "SF Mono", Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
    pre.code { padding: 10px 14px 10px 4px; flex: 1; }
    pre.out { padding: 10px 16px; }
    pre.err { color: #b3261e; background: #fff4f3; }
    .k { color: #a626a4; font-weight: 600; } .s { color: #3c8a2e; } .m { color: #b76b01; } .c { color: #8a94a3; font-style: italic; } .b { color: var(--accent); }
    .report { padding: 12px 16px; }
    .report .title { font-weight: 600; margin-bottom: 6px; }
    .report pre.lines { color: #334; margin-bottom: 8px; }
    table { border-collapse: collapse; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; margin: 6px 0; }
    th, td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: left; }
    th { background: #f1f4f9; font-weight: 600; }
    td.num, th.num { text-align: right; }
    tbody tr:hover { background: #f7f9fc; }
    figure { margin: 8px 0; }
    figure.plot { padding: 8px 16px; }
    svg text { font-family: -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
    """
}
