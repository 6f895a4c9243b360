/// The syntax tree. Every node keeps the source offset it starts at, for diagnostics.
public final class Expr: Sendable {
    public enum Kind: Sendable {
        case number(Double)
        case string([InterpolatedPart])
        case bool(Bool)
        case nilLiteral
        case name(String)
        case list([Expr])
        case record([(key: String, value: Expr)])
        case unary(UnaryOperator, Expr)
        case binary(BinaryOperator, Expr, Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case range(Expr, Expr, inclusive: Bool)
        case call(Expr, [Argument])
        case field(Expr, String)
        case index(Expr, Expr)
        case function(FunctionDecl)
    }

    public let kind: Kind
    public let location: SourceLocation
    /// Nodes on the longest path from here to a leaf (1 for a leaf); the parser bounds it.
    /// Function bodies are not counted: their statements are bounded by block nesting.
    public let depth: Int

    init(_ kind: Kind, _ location: SourceLocation) {
        self.kind = kind
        self.location = location
        let below: Int
        switch kind {
        case .number, .bool, .nilLiteral, .name, .function: below = 0
        case .string(let parts):
            below = parts.reduce(0) { if case .expr(let e) = $1 { return max($0, e.depth) } else { return $0 } }
        case .list(let items): below = items.reduce(0) { max($0, $1.depth) }
        case .record(let fields): below = fields.reduce(0) { max($0, $1.value.depth) }
        case .unary(_, let e), .field(let e, _): below = e.depth
        case .binary(_, let l, let r), .and(let l, let r), .or(let l, let r), .range(let l, let r, _), .index(let l, let r):
            below = max(l.depth, r.depth)
        case .call(let callee, let args): below = args.reduce(callee.depth) { max($0, $1.value.depth) }
        }
        self.depth = below + 1
    }
}

public enum InterpolatedPart: Sendable {
    case literal(String)
    case expr(Expr)
}

/// A call argument: positional (`label == nil`) or named (`sparsity: 0.5`).
public struct Argument: Sendable {
    public let label: String?
    public let value: Expr
}

public enum UnaryOperator: String, Sendable { case negate = "-", not = "not" }

public enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%", power = "**"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}

public final class FunctionDecl: Sendable {
    public struct Parameter: Sendable {
        public let name: String
        public let defaultValue: Expr?
    }
    public let name: String?
    public let parameters: [Parameter]
    public let body: [Stmt]
    public let location: SourceLocation

    init(name: String?, parameters: [Parameter], body: [Stmt], location: SourceLocation) {
        self.name = name
        self.parameters = parameters
        self.body = body
        self.location = location
    }
}

public final class Stmt: Sendable {
    public enum Kind: Sendable {
        case expression(Expr)
        case `let`(String, Expr)
        /// `target = value` or a compound `target += value` (operator given).
        case assign(Expr, BinaryOperator?, Expr)
        case function(FunctionDecl)
        case `if`(Expr, [Stmt], else: [Stmt]?)
        case `for`(String, Expr, [Stmt])
        case `while`(Expr, [Stmt])
        case `return`(Expr?)
        case `break`
        case `continue`
        case `import`(String)
    }

    public let kind: Kind
    public let location: SourceLocation
    /// Character offsets of the whole statement, to show its source in a notebook.
    public let range: Range<Int>

    init(_ kind: Kind, _ location: SourceLocation, range: Range<Int>) {
        self.kind = kind
        self.location = location
        self.range = range
    }
}
