/// Turns source text into tokens. Line breaks inside `(` and `[` are ignored, so calls and lists
/// may span lines; inside `{` blocks and at top level they end statements. Errors (a stray
/// character, an unterminated string) are reported and lexing goes on.
struct Lexer {
    let file: SourceFile
    private let chars: [Character]
    private var index: Int
    private let endIndex: Int
    private var brackets: [Character] = []
    private(set) var diagnostics: [Diagnostic] = []

    init(file: SourceFile, range: Range<Int>? = nil) {
        self.file = file
        self.chars = file.chars
        self.index = range?.lowerBound ?? 0
        self.endIndex = range?.upperBound ?? file.chars.count
    }

    /// Every token up to and including `.end`.
    mutating func tokenize() -> [Token] {
        var tokens: [Token] = []
        while true {
            let t = next()
            if t.kind == .newline, tokens.isEmpty || tokens.last?.kind == .newline { continue }
            tokens.append(t)
            if t.kind == .end { return tokens }
        }
    }

    /// Whether the text so far leaves a bracket or block open (the REPL then asks for another
    /// line). Text with a lexical error is complete: more lines would not mend it.
    static func isIncomplete(_ text: String) -> Bool {
        var lexer = Lexer(file: SourceFile(name: "<input>", text: text))
        _ = lexer.tokenize()
        return !lexer.brackets.isEmpty && lexer.diagnostics.isEmpty
    }

    private var current: Character? { index < endIndex ? chars[index] : nil }
    private func peek(_ ahead: Int = 1) -> Character? { index + ahead < endIndex ? chars[index + ahead] : nil }

    private mutating func error(_ message: String, at offset: Int) {
        diagnostics.append(Diagnostic(.syntax, message, at: SourceLocation(file: file, offset: offset)))
    }

    private mutating func next() -> Token {
        skipSpaceAndComments()
        let start = index
        guard let c = current else { return Token(kind: .end, start: start, end: start) }
        if c.isNewline || c == ";" {
            index += 1
            if c == ";" || brackets.isEmpty || brackets.last == "{" {
                return Token(kind: .newline, start: start, end: index)
            }
            // A line that starts a statement cannot continue an expression: an unclosed `(` or
            // `[` above it is a mistake, and ending the statement here lets the parser report it
            // and go on with this line.
            if nextLineStartsStatement() {
                while let last = brackets.last, last != "{" { brackets.removeLast() }
                return Token(kind: .newline, start: start, end: index)
            }
            return next()
        }
        if c.isLetter || c == "_" { return identifier(start) }
        if c.isASCII && c.isNumber { return number(start) }
        if c == "\"" { return string(start) }
        return symbol(start, c)
    }

    private func nextLineStartsStatement() -> Bool {
        var i = index
        while i < endIndex, chars[i].isWhitespace, !chars[i].isNewline { i += 1 }
        var j = i
        while j < endIndex, chars[j].isLetter { j += 1 }
        let word = String(chars[i..<j])
        let statementKeywords: [Keyword] = [.let, .if, .for, .while, .return, .import, .break, .continue]
        return Keyword(rawValue: word).map(statementKeywords.contains) ?? false
    }

    private mutating func skipSpaceAndComments() {
        while let c = current {
            if c == "#" {
                while let d = current, !d.isNewline { _ = d; index += 1 }
            } else if c.isWhitespace && !c.isNewline {
                index += 1
            } else {
                return
            }
        }
    }

    private mutating func identifier(_ start: Int) -> Token {
        while let c = current, c.isLetter || c.isNumber || c == "_" { index += 1 }
        let text = String(chars[start..<index])
        if let k = Keyword(rawValue: text) { return Token(kind: .keyword(k), start: start, end: index) }
        return Token(kind: .identifier(text), start: start, end: index)
    }

    private mutating func number(_ start: Int) -> Token {
        func digits() { while let c = current, (c.isASCII && c.isNumber) || c == "_" { index += 1 } }
        digits()
        // A fraction, but not the start of a range `1..<3` or `1...3`.
        if current == ".", let d = peek(), d.isASCII && d.isNumber { index += 1; digits() }
        if current == "e" || current == "E" {
            let save = index
            index += 1
            if current == "+" || current == "-" { index += 1 }
            if let d = current, d.isASCII && d.isNumber { digits() } else { index = save }
        }
        let text = String(chars[start..<index]).replacingOccurrences(of: "_", with: "")
        guard let value = Double(text) else {
            error("invalid number '\(text)'", at: start)
            return Token(kind: .invalid, start: start, end: index)
        }
        return Token(kind: .number(value), start: start, end: index)
    }

    private mutating func string(_ start: Int) -> Token {
        index += 1
        var parts: [StringPart] = []
        var literal = ""
        while true {
            guard let c = current, !c.isNewline else {
                error("unterminated string", at: start)
                return Token(kind: .invalid, start: start, end: index)
            }
            index += 1
            if c == "\"" { break }
            guard c == "\\" else { literal.append(c); continue }
            guard let e = current else { continue }
            index += 1
            switch e {
            case "n": literal.append("\n")
            case "t": literal.append("\t")
            case "r": literal.append("\r")
            case "0": literal.append("\0")
            case "\\", "\"": literal.append(e)
            case "(":
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                let codeStart = index
                guard skipInterpolation() else {
                    error("unterminated interpolation '\\(' in string", at: codeStart - 2)
                    return Token(kind: .invalid, start: start, end: index)
                }
                parts.append(.interpolation(codeStart..<(index - 1)))
            default:
                error("unknown escape '\\\(e)' in string (use \\n, \\t, \\\\, \\\" or \\( )", at: index - 2)
            }
        }
        if !literal.isEmpty || parts.isEmpty { parts.append(.literal(literal)) }
        return Token(kind: .string(parts), start: start, end: index)
    }

    /// Moves past the `)` that closes an interpolation, skipping nested parentheses and strings.
    private mutating func skipInterpolation() -> Bool {
        var depth = 1
        while let c = current, !c.isNewline {
            index += 1
            switch c {
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth == 0 { return true }
            case "\"":
                while let d = current, d != "\"", !d.isNewline { index += d == "\\" ? 2 : 1 }
                index += 1
            default: break
            }
        }
        return false
    }

    private mutating func symbol(_ start: Int, _ c: Character) -> Token {
        // Longest match first.
        for length in [3, 2, 1] where index + length <= endIndex {
            let text = String(chars[index..<(index + length)])
            if let s = Symbol(rawValue: text) {
                index += length
                switch s {
                case .leftParen: brackets.append("(")
                case .leftBracket: brackets.append("[")
                case .leftBrace: brackets.append("{")
                case .rightParen, .rightBracket, .rightBrace: if !brackets.isEmpty { brackets.removeLast() }
                default: break
                }
                return Token(kind: .symbol(s), start: start, end: index)
            }
        }
        index += 1
        error("unexpected character '\(c)'", at: start)
        return Token(kind: .invalid, start: start, end: index)
    }
}
