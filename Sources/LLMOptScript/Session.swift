/// Services the REPL needs from the language: whether input is complete, field names and
/// side-effect-free evaluation for completion.
extension Interpreter {
    /// Whether `text` leaves a bracket, block or string open, so the REPL should read another line.
    public static func needsMoreInput(_ text: String) -> Bool { Lexer.isIncomplete(text) }

    /// The value of `text` when it is a plain chain of names, fields and literal indexes
    /// (`m.layers[0].attention`), evaluated without calling anything; otherwise nil.
    public func peek(_ text: String) -> Value? {
        let file = SourceFile(name: "<completion>", text: text)
        var parser = Parser(file: file)
        guard let e = try? parser.expression(), parser.diagnostics.isEmpty, Interpreter.isPure(e) else { return nil }
        return try? evaluate(e, in: globals)
    }

    private static func isPure(_ e: Expr) -> Bool {
        switch e.kind {
        case .name, .number, .string: return true
        case .field(let object, _): return isPure(object)
        case .index(let object, let index):
            switch index.kind {
            case .number, .string: return isPure(object)
            default: return false
            }
        default: return false
        }
    }

    /// Field names of a value (for completion after a dot).
    public static func fieldNames(of value: Value) -> [String] { Fields.names(of: value) }

    /// Parameter names of a function value (for completing named arguments).
    public static func parameterNames(of value: Value) -> [String] {
        guard case .function(let f) = value else { return [] }
        switch f {
        case .builtin(let b): return b.parameters.map(\.name)
        case .user(let u): return u.declaration.parameters.map(\.name)
        }
    }

    public static var keywords: [String] { Keyword.allCases.map(\.rawValue) }
}
