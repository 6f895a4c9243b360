/// A problem found in a script, with where it happened. Rendering is separate
/// (`DiagnosticRenderer`), so tests and the REPL can compare or reformat them.
public struct Diagnostic: Error, Sendable {
    public enum Phase: Sendable { case syntax, runtime }

    public var phase: Phase
    public var message: String
    public var location: SourceLocation?
    /// User function calls active when a runtime error happened, innermost first.
    public var stack: [StackFrame]

    public init(_ phase: Phase, _ message: String, at location: SourceLocation?, stack: [StackFrame] = []) {
        self.phase = phase
        self.message = message
        self.location = location
        self.stack = stack
    }
}

/// One active call of a user function: its name and where it was called from.
public struct StackFrame: Sendable {
    public let function: String
    public let callSite: SourceLocation
}

/// Several syntax errors of one file, reported together.
public struct SyntaxErrors: Error, Sendable {
    public let diagnostics: [Diagnostic]
}

/// Renders diagnostics in the compiler style:
///
///     script.llmopt:3:7: error: unknown name 'lod'; did you mean 'load'?
///       let m = lod("x")
///               ^
public enum DiagnosticRenderer {
    public static func render(_ d: Diagnostic) -> String {
        guard let loc = d.location else { return "error: \(d.message)" }
        let (line, column) = loc.file.lineColumn(of: loc.offset)
        var out = "\(loc.file.name):\(line):\(column): error: \(d.message)"
        var text = loc.file.line(line)
        var caretColumn = column
        // A very long line is shown as the part around the column, marked with "…".
        let window = 160
        if text.count > window {
            let start = max(0, min(column - 1 - window / 2, text.count - window))
            let piece = text.dropFirst(start).prefix(window)
            text = (start > 0 ? "…" : "") + piece + (start + window < text.count ? "…" : "")
            caretColumn = column - start + (start > 0 ? 1 : 0)
        }
        if !text.isEmpty || column > 1 {
            // The caret line repeats tabs so that it lines up under the source line.
            let lead = String(text.prefix(caretColumn - 1).map { $0 == "\t" ? "\t" : " " })
            out += "\n  \(text)\n  \(lead)^"
        }
        for frame in d.stack {
            out += "\n  in \(frame.function)() called at \(frame.callSite.description)"
        }
        return out
    }

    public static func render(_ ds: [Diagnostic]) -> String {
        ds.map { render($0) }.joined(separator: "\n")
    }
}

/// The known name closest to `name` by edit distance, when it is close enough to be a likely
/// typo. Ties go to the longer common prefix, then to the earlier candidate.
public func closestName(to name: String, in candidates: some Sequence<String>) -> String? {
    var best: (name: String, distance: Int, prefix: Int)? = nil
    let limit = max(1, min(3, name.count / 3 + 1))
    let lowered = name.lowercased()
    for c in candidates where c != name {
        let d = editDistance(lowered, c.lowercased())
        guard d <= limit else { continue }
        let prefix = zip(lowered, c.lowercased()).prefix { $0 == $1 }.count
        if best == nil || d < best!.distance || (d == best!.distance && prefix > best!.prefix) { best = (c, d, prefix) }
    }
    return best?.name
}

/// Levenshtein distance between two strings, in characters.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// " did you mean 'x'?" or "" — appended to messages about unknown names.
func suggestion(for name: String, in candidates: some Sequence<String>) -> String {
    closestName(to: name, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
}
