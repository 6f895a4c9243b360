/// Recursive-descent parser. On a syntax error it records a diagnostic, skips to the end of
/// the statement and goes on, so one run reports every error of a file.
///
/// Precedence, loosest first: `|>`, `or`/`||`, `and`/`&&`, `not`, comparisons, ranges
/// (`..<`, `...`), `+ -`, `* / %`, unary `- !`, `**`, then calls, `.field` and `[index]`.
struct Parser {
    let file: SourceFile
    private var tokens: [Token]
    private var position = 0
    private(set) var diagnostics: [Diagnostic] = []
    /// Parsing the code of a string interpolation, whose end is the closing `)`.
    private var inInterpolation = false
    /// How many brackets, blocks, unary operators and interpolations are open: the parser
    /// recurses once per level, so depth is bounded to keep the stack bounded.
    private var depth = 0
    /// Open levels allowed (Python's parser allows 200 nested parentheses).
    static let maxNesting = 256
    /// Nodes on the longest path of one expression's tree (`1+1+...` builds one level per
    /// operator): evaluating and freeing a tree recurse once per level.
    static let maxTreeDepth = 1000
    /// Errors reported before parsing stops (a compiler's error limit): recovery from a
    /// badly broken file would otherwise report thousands.
    static let maxErrors = 50
    private var gaveUp = false

    /// Raised after a diagnostic has been recorded, to unwind to the statement level.
    private struct Failure: Error {}

    init(file: SourceFile, range: Range<Int>? = nil) {
        self.file = file
        var lexer = Lexer(file: file, range: range)
        self.tokens = lexer.tokenize()
        self.diagnostics = Array(lexer.diagnostics.prefix(Parser.maxErrors))
    }

    /// Parses a whole file. Syntax errors are in `diagnostics`, sorted by position.
    mutating func parseProgram() -> [Stmt] {
        var statements: [Stmt] = []
        skipNewlines()
        while !check(.end) {
            if check(.symbol(.rightBrace)) {
                error("unexpected '}' with no block open")
                advance()
                skipNewlines()
                continue
            }
            if let s = statementRecovering() { statements.append(s) }
            skipNewlines()
        }
        diagnostics.sort { $0.location?.offset ?? 0 < $1.location?.offset ?? 0 }
        return statements
    }

    // MARK: - Token helpers

    private var token: Token { tokens[position] }
    private var previous: Token { tokens[max(0, position - 1)] }
    private func location(_ t: Token) -> SourceLocation { SourceLocation(file: file, offset: t.start) }
    private var here: SourceLocation { location(token) }

    private func spelled(_ t: Token) -> String {
        inInterpolation && t.kind == .end ? "')'" : t.kind.spelled
    }

    private func check(_ kind: Token.Kind) -> Bool { token.kind == kind }
    private func check(_ s: Symbol) -> Bool { token.kind == .symbol(s) }
    private func check(_ k: Keyword) -> Bool { token.kind == .keyword(k) }

    @discardableResult
    private mutating func advance() -> Token {
        let t = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return t
    }

    private mutating func match(_ s: Symbol) -> Bool {
        if check(s) { advance(); return true }
        return false
    }

    private mutating func match(_ k: Keyword) -> Bool {
        if check(k) { advance(); return true }
        return false
    }

    private mutating func skipNewlines() { while check(.newline) { advance() } }

    private mutating func error(_ message: String, at t: Token? = nil) {
        let t = t ?? token
        // An invalid token was already reported by the lexer.
        if t.kind == .invalid || gaveUp { return }
        if diagnostics.count >= Parser.maxErrors {
            // Stop: every loop of the parser ends at the end token.
            diagnostics.append(Diagnostic(.syntax, "too many errors (\(Parser.maxErrors)); stopping here", at: SourceLocation(file: file, offset: t.start)))
            gaveUp = true
            position = tokens.count - 1
            return
        }
        let offset = t.kind == .newline || t.kind == .end ? previous.end : t.start
        diagnostics.append(Diagnostic(.syntax, message, at: SourceLocation(file: file, offset: t.kind == .end && tokens.count == 1 ? t.start : offset)))
    }

    private mutating func fail(_ message: String) -> Failure {
        error(message)
        return Failure()
    }

    /// Runs `body` one nesting level deeper; past `maxNesting` levels it reports the error at
    /// the token that opens the level too many.
    private mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        if depth >= Parser.maxNesting {
            throw fail("nested too deeply: more than \(Parser.maxNesting) levels of brackets, blocks, operators or interpolations")
        }
        depth += 1
        defer { depth -= 1 }
        return try body(&self)
    }

    /// Makes an expression node, refusing a tree deeper than `maxTreeDepth`.
    private mutating func node(_ kind: Expr.Kind, _ location: SourceLocation) throws -> Expr {
        let e = Expr(kind, location)
        if e.depth > Parser.maxTreeDepth {
            diagnostics.append(Diagnostic(.syntax, "expression too deep: more than \(Parser.maxTreeDepth) nested operations (split it into steps with 'let')", at: location))
            throw Failure()
        }
        return e
    }

    private mutating func expect(_ s: Symbol, _ context: String) throws {
        guard match(s) else { throw fail("expected '\(s.rawValue)' \(context), found \(spelled(token))") }
    }

    private mutating func identifier(_ context: String) throws -> String {
        guard case .identifier(let name) = token.kind else {
            if case .keyword(let k) = token.kind {
                throw fail("'\(k.rawValue)' is a keyword and cannot be used as \(context)")
            }
            throw fail("expected \(context), found \(spelled(token))")
        }
        advance()
        return name
    }

    // MARK: - Statements

    private mutating func statementRecovering() -> Stmt? {
        do {
            let s = try statement()
            if !check(.newline) && !check(.end) && !check(.symbol(.rightBrace)) {
                throw fail("expected end of line after statement, found \(spelled(token))")
            }
            return s
        } catch {
            synchronize()
            return nil
        }
    }

    /// Skips to the end of the broken statement: the next line break outside any block it
    /// opened, or a `}` that closes an enclosing block.
    private mutating func synchronize() {
        var depth = 0
        while !check(.end) {
            if check(.symbol(.leftBrace)) { depth += 1 }
            if check(.symbol(.rightBrace)) {
                if depth == 0 { return }
                depth -= 1
            }
            if check(.newline) && depth == 0 { return }
            advance()
        }
    }

    private mutating func statement() throws -> Stmt {
        let start = token
        let kind: Stmt.Kind
        switch token.kind {
        case .keyword(.let):
            advance()
            let name = try identifier("a name after 'let'")
            try expect(.assign, "after 'let \(name)'")
            kind = .let(name, try expression())
        case .keyword(.fn) where tokens[position + 1].kind != .symbol(.leftParen):
            advance()
            let name = try identifier("a function name after 'fn'")
            kind = .function(try functionRest(name: name, at: location(start)))
        case .keyword(.if):
            kind = try ifStatement()
        case .keyword(.for):
            advance()
            let name = try identifier("a loop variable after 'for'")
            guard match(.in) else { throw fail("expected 'in' after 'for \(name)', found \(spelled(token))") }
            let sequence = try expression()
            kind = .for(name, sequence, try block("the 'for' loop"))
        case .keyword(.while):
            advance()
            let condition = try expression()
            kind = .while(condition, try block("the 'while' loop"))
        case .keyword(.return):
            advance()
            let ends = check(.newline) || check(.end) || check(.symbol(.rightBrace))
            kind = .return(ends ? nil : try expression())
        case .keyword(.break):
            advance()
            kind = .break
        case .keyword(.continue):
            advance()
            kind = .continue
        case .keyword(.import):
            advance()
            guard case .string(let parts) = token.kind, parts.count == 1, case .literal(let path) = parts[0] else {
                throw fail("expected a file name in quotes after 'import'")
            }
            advance()
            kind = .import(path)
        default:
            let target = try expression()
            let compound: [Symbol: BinaryOperator?] = [
                .assign: nil, .plusAssign: .add, .minusAssign: .subtract, .timesAssign: .multiply, .divideAssign: .divide,
            ]
            if case .symbol(let s) = token.kind, let op = compound[s] {
                let opToken = advance()
                switch target.kind {
                case .name, .field, .index: break
                default:
                    error("cannot assign to this expression (only to a name, a field or an element)", at: opToken)
                    throw Failure()
                }
                kind = .assign(target, op, try expression())
            } else {
                kind = .expression(target)
            }
        }
        return Stmt(kind, location(start), range: start.start..<previous.end)
    }

    private mutating func ifStatement() throws -> Stmt.Kind {
        advance()
        let condition = try expression()
        let then = try block("'if'")
        var otherwise: [Stmt]? = nil
        // `else` may sit on the line after the closing brace.
        var look = position
        while tokens[look].kind == .newline { look += 1 }
        if tokens[look].kind == .keyword(.else) {
            position = look
            advance()
            if check(.if) {
                let start = token
                let elseIf = try nested { try $0.ifStatement() }
                otherwise = [Stmt(elseIf, location(start), range: start.start..<previous.end)]
            } else {
                otherwise = try block("'else'")
            }
        }
        return .if(condition, then, else: otherwise)
    }

    private mutating func block(_ owner: String) throws -> [Stmt] {
        try nested { try $0.blockBody(owner) }
    }

    private mutating func blockBody(_ owner: String) throws -> [Stmt] {
        let open = token
        try expect(.leftBrace, "to start the body of \(owner)")
        var body: [Stmt] = []
        skipNewlines()
        while !check(.symbol(.rightBrace)) {
            if check(.end) {
                let (line, column) = file.lineColumn(of: open.start)
                error("expected '}' to close the block of \(owner) opened at \(line):\(column)")
                throw Failure()
            }
            if let s = statementRecovering() { body.append(s) }
            skipNewlines()
        }
        advance()
        return body
    }

    private mutating func functionRest(name: String?, at location: SourceLocation) throws -> FunctionDecl {
        try expect(.leftParen, "after the function name")
        var parameters: [FunctionDecl.Parameter] = []
        var seenDefault = false
        while !check(.symbol(.rightParen)) {
            let nameToken = token
            let p = try identifier("a parameter name")
            if parameters.contains(where: { $0.name == p }) { error("duplicate parameter '\(p)'", at: nameToken) }
            var defaultValue: Expr? = nil
            if match(.colon) || match(.assign) {
                defaultValue = try expression()
                seenDefault = true
            } else if seenDefault {
                error("parameter '\(p)' needs a default value because an earlier one has one", at: nameToken)
            }
            parameters.append(.init(name: p, defaultValue: defaultValue))
            if !match(.comma) { break }
        }
        try expect(.rightParen, "after the parameters")
        let body = try block(name.map { "function '\($0)'" } ?? "the function")
        return FunctionDecl(name: name, parameters: parameters, body: body, location: location)
    }

    // MARK: - Expressions

    mutating func expression() throws -> Expr {
        try nested { try $0.pipeline() }
    }

    private mutating func pipeline() throws -> Expr {
        var left = try or()
        while true {
            // A pipeline may continue on the next line: `m\n  |> prune(...)`.
            var look = position
            while tokens[look].kind == .newline { look += 1 }
            guard tokens[look].kind == .symbol(.pipe) else { return left }
            position = look
            let pipe = advance()
            skipNewlines()
            let right = try or()
            if case .call(let callee, let args) = right.kind {
                left = try node(.call(callee, [Argument(label: nil, value: left)] + args), location(pipe))
            } else {
                left = try node(.call(right, [Argument(label: nil, value: left)]), location(pipe))
            }
        }
    }

    private mutating func or() throws -> Expr {
        var left = try and()
        while check(.or) || check(.symbol(.orOr)) {
            let t = advance()
            left = try node(.or(left, try and()), location(t))
        }
        return left
    }

    private mutating func and() throws -> Expr {
        var left = try not()
        while check(.and) || check(.symbol(.andAnd)) {
            let t = advance()
            left = try node(.and(left, try not()), location(t))
        }
        return left
    }

    private mutating func not() throws -> Expr {
        if check(.not) {
            let t = advance()
            return try node(.unary(.not, try nested { try $0.not() }), location(t))
        }
        return try comparison()
    }

    private mutating func comparison() throws -> Expr {
        var left = try range()
        let ops: [Symbol: BinaryOperator] = [
            .equal: .equal, .notEqual: .notEqual, .less: .less, .lessEqual: .lessEqual,
            .greater: .greater, .greaterEqual: .greaterEqual,
        ]
        while case .symbol(let s) = token.kind, let op = ops[s] {
            let t = advance()
            left = try node(.binary(op, left, try range()), location(t))
        }
        return left
    }

    private mutating func range() throws -> Expr {
        let left = try additive()
        if check(.symbol(.halfOpenRange)) || check(.symbol(.closedRange)) {
            let t = advance()
            return try node(.range(left, try additive(), inclusive: t.kind == .symbol(.closedRange)), location(t))
        }
        return left
    }

    private mutating func additive() throws -> Expr {
        var left = try multiplicative()
        while check(.symbol(.plus)) || check(.symbol(.minus)) {
            let t = advance()
            left = try node(.binary(t.kind == .symbol(.plus) ? .add : .subtract, left, try multiplicative()), location(t))
        }
        return left
    }

    private mutating func multiplicative() throws -> Expr {
        var left = try unary()
        let ops: [Symbol: BinaryOperator] = [.star: .multiply, .slash: .divide, .percent: .remainder]
        while case .symbol(let s) = token.kind, let op = ops[s] {
            let t = advance()
            left = try node(.binary(op, left, try unary()), location(t))
        }
        return left
    }

    private mutating func unary() throws -> Expr {
        if check(.symbol(.minus)) || check(.symbol(.bang)) {
            let t = advance()
            return try node(.unary(t.kind == .symbol(.minus) ? .negate : .not, try nested { try $0.unary() }), location(t))
        }
        return try power()
    }

    private mutating func power() throws -> Expr {
        let base = try postfix()
        if check(.symbol(.power)) {
            let t = advance()
            return try node(.binary(.power, base, try nested { try $0.unary() }), location(t))
        }
        return base
    }

    private mutating func postfix() throws -> Expr {
        var e = try primary()
        while true {
            if check(.symbol(.leftParen)) {
                advance()
                e = try node(.call(e, try arguments()), e.location)
            } else if check(.symbol(.dot)) {
                let t = advance()
                let name: String
                if case .keyword(let k) = token.kind { name = k.rawValue; advance() } else { name = try identifier("a field name after '.'") }
                e = try node(.field(e, name), location(t))
            } else if check(.symbol(.leftBracket)) {
                let t = advance()
                let index = try expression()
                try expect(.rightBracket, "after the index")
                e = try node(.index(e, index), location(t))
            } else {
                return e
            }
        }
    }

    private mutating func arguments() throws -> [Argument] {
        var args: [Argument] = []
        var named = Set<String>()
        while !check(.symbol(.rightParen)) {
            if case .identifier(let label) = token.kind, tokens[position + 1].kind == .symbol(.colon) {
                let labelToken = advance()
                advance()
                if !named.insert(label).inserted { error("argument '\(label)' given twice", at: labelToken) }
                args.append(Argument(label: label, value: try expression()))
            } else {
                if !named.isEmpty { error("positional argument after named arguments") }
                args.append(Argument(label: nil, value: try expression()))
            }
            if !match(.comma) { break }
        }
        try expect(.rightParen, "to close the argument list")
        return args
    }

    private mutating func primary() throws -> Expr {
        let t = token
        let loc = location(t)
        switch t.kind {
        case .number(let n):
            advance()
            return try node(.number(n), loc)
        case .string(let parts):
            advance()
            return try node(.string(try interpolated(parts)), loc)
        case .keyword(.true), .keyword(.false):
            advance()
            return try node(.bool(t.kind == .keyword(.true)), loc)
        case .keyword(.nil):
            advance()
            return try node(.nilLiteral, loc)
        case .keyword(.fn):
            advance()
            return try node(.function(try functionRest(name: nil, at: loc)), loc)
        case .identifier(let name):
            advance()
            return try node(.name(name), loc)
        case .symbol(.leftParen):
            advance()
            let e = try expression()
            try expect(.rightParen, "to close '('")
            return e
        case .symbol(.leftBracket):
            advance()
            return try listOrRecord(loc)
        case .newline, .end:
            throw fail("expected an expression, found \(spelled(t))")
        case .invalid:
            throw Failure()
        default:
            throw fail("expected an expression, found \(spelled(t))")
        }
    }

    /// `[1, 2, 3]`, `[name: "x", n: 3]`, `["a key": 1]` or the empty record `[:]`.
    private mutating func listOrRecord(_ loc: SourceLocation) throws -> Expr {
        if check(.symbol(.colon)) && tokens[position + 1].kind == .symbol(.rightBracket) {
            advance(); advance()
            return try node(.record([]), loc)
        }
        let isRecord: Bool = {
            switch token.kind {
            case .identifier, .string: return tokens[position + 1].kind == .symbol(.colon)
            default: return false
            }
        }()
        if isRecord {
            var fields: [(key: String, value: Expr)] = []
            while !check(.symbol(.rightBracket)) {
                let keyToken = token
                let key: String
                if case .string(let parts) = token.kind, parts.count == 1, case .literal(let s) = parts[0] {
                    key = s
                    advance()
                } else {
                    key = try identifier("a field name")
                }
                if fields.contains(where: { $0.key == key }) { error("duplicate field '\(key)'", at: keyToken) }
                try expect(.colon, "after the field name '\(key)'")
                fields.append((key, try expression()))
                if !match(.comma) { break }
            }
            try expect(.rightBracket, "to close the record")
            return try node(.record(fields), loc)
        }
        var items: [Expr] = []
        while !check(.symbol(.rightBracket)) {
            items.append(try expression())
            if !match(.comma) { break }
        }
        try expect(.rightBracket, "to close the list")
        return try node(.list(items), loc)
    }

    private mutating func interpolated(_ parts: [StringPart]) throws -> [InterpolatedPart] {
        var out: [InterpolatedPart] = []
        for part in parts {
            switch part {
            case .literal(let s): out.append(.literal(s))
            case .interpolation(let range):
                var inner = Parser(file: file, range: range)
                inner.inInterpolation = true
                inner.depth = depth
                inner.skipNewlines()
                if inner.check(.end) {
                    diagnostics.append(Diagnostic(.syntax, "empty interpolation '\\()' in string", at: SourceLocation(file: file, offset: range.lowerBound)))
                    throw Failure()
                }
                let e = try? inner.expression()
                if e != nil && !inner.check(.end) { inner.error("unexpected \(inner.spelled(inner.token)) in interpolation") }
                diagnostics += inner.diagnostics
                if diagnostics.count > Parser.maxErrors {
                    diagnostics = Array(diagnostics.prefix(Parser.maxErrors))
                    error("")
                }
                guard let e, inner.diagnostics.isEmpty else { throw Failure() }
                out.append(.expr(e))
            }
        }
        return out
    }
}
