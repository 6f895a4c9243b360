extension Builtins {
    static let helpTopics: [Builtin] = [
        Builtin("help", family: "core", parameters: [.init("topic", .absent, "a built-in (perplexity or \"perplexity\"), a family, or \"language\"")],
                summary: "What a built-in does, its math, its arguments with defaults and an example; without a topic, the list of topics.",
                example: "help(perplexity)") { args in
            let topic: String?
            switch args.value("topic") {
            case .null: topic = nil
            case .string(let s): topic = s
            case .function(let f): topic = f.name
            case let v: throw ScriptError("help: expected a built-in or a topic name, got a \(v.typeName)")
            }
            guard let text = Help.text(for: topic) else {
                let known = Builtins.all.map(\.name) + Help.families + ["language"]
                throw ScriptError("help: no topic '\(topic ?? "")'\(suggestion(for: topic ?? "", in: known))")
            }
            args.interpreter.output.write(text)
            return .null
        },
    ]
}

/// Help texts for `help(topic)` and the REPL's `:help topic`.
public enum Help {
    static var families: [String] {
        var seen: [String] = []
        for b in Builtins.all where !seen.contains(b.family) { seen.append(b.family) }
        return seen
    }

    /// Every help topic (built-ins, families, "language"), for completion.
    public static var topics: [String] { Builtins.all.map(\.name) + families + ["language"] }

    /// The help text of a topic; `nil` topic gives the overview; unknown topics give `nil`.
    public static func text(for topic: String?) -> String? {
        guard let topic, !topic.isEmpty else { return overview }
        if topic == "language" { return language }
        if let b = Builtins.byName[topic] { return text(of: b) }
        if families.contains(topic) {
            let members = Builtins.all.filter { $0.family == topic }
            let width = members.map(\.name.count).max() ?? 0
            return ([topic + ":"] + members.map { "  " + $0.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + firstSentence($0.summary) })
                .joined(separator: "\n")
        }
        return nil
    }

    static func text(of b: Builtin) -> String {
        var out = [b.signature, indent(wrap(b.summary, width: 88))]
        if let math = b.math { out += ["", "math:", indent(math)] }
        if !b.parameters.isEmpty {
            out += ["", "arguments:"]
            let width = b.parameters.map { argumentHead($0).count }.max() ?? 0
            out += b.parameters.map { "  " + argumentHead($0).padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.help }
        }
        out += ["", "example:", indent(b.example)]
        return out.joined(separator: "\n")
    }

    private static func argumentHead(_ p: Builtin.Parameter) -> String {
        switch p.defaultValue {
        case .required: return p.name
        case .absent: return "\(p.name) = nil"
        case .value(let v): return "\(p.name) = \(Display.literal(v))"
        }
    }

    private static func indent(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
    }

    /// Breaks a paragraph into lines of at most `width` characters at spaces.
    static func wrap(_ text: String, width: Int) -> String {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines.joined(separator: "\n")
    }

    private static func firstSentence(_ s: String) -> String {
        if let r = s.range(of: ". ") { return String(s[..<r.lowerBound]) + "." }
        return s
    }

    static var overview: String {
        var out = ["llmopt: load a model, look inside, prune, quantize, measure. Topics:"]
        for f in families {
            out.append("  \(f): " + Builtins.all.filter { $0.family == f }.map(\.name).joined(separator: ", "))
        }
        out.append("  language: the syntax in one page")
        out.append("help(name) or :help name shows one topic.")
        return out.joined(separator: "\n")
    }

    static let language = """
    The .llmopt language
      let x = 1                      bind a name; x = 2 and x += 1 assign
      1 + 2 * 3 ** 2, 7 % 3          arithmetic (** is power); == != < <= > >=; and or not
      "ppl = \\(p.ppl)"               strings interpolate \\(expression)
      [1, 2, 3]   [name: "x", n: 3]   lists and records; [:] is the empty record
      0..<4   1...3                   ranges (half-open, closed)
      m.layers[0].mlp.up              fields and indexes; m["model.norm.weight"] by full name
      if c { ... } else if d { ... } else { ... }
      for x in xs { ... }   while c { ... }   break   continue
      fn f(a, b: 2) { a * b }         functions; the last expression is the result; return
      let g = fn(x) { x + 1 }         functions are values and close over their scope
      f(1, b: 3)                      named arguments
      m |> f(0.5)                     pipeline: the same as f(m, 0.5)
      import "lib.llmopt"             run another file (path relative to this one)
      # comment
    A bare expression shows its value (a model its summary, a tensor its statistics, a
    report its table) and is kept in `ans`; print(...) prints plainly; show(x) shows x
    that way from inside functions and loops too.
    """
}
