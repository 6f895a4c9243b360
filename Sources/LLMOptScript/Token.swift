/// One lexical token of the `.llmopt` language.
public struct Token: Sendable {
    public enum Kind: Equatable, Sendable {
        case identifier(String)
        case number(Double)
        /// A string literal, split into literal text and `\(...)` interpolations.
        case string([StringPart])
        case keyword(Keyword)
        case symbol(Symbol)
        /// The end of a statement: a line break outside brackets, or `;`.
        case newline
        /// A character or literal the lexer could not read; already reported.
        case invalid
        case end
    }

    public let kind: Kind
    /// Character offsets of the token in its source.
    public let start: Int
    public let end: Int
}

public enum StringPart: Equatable, Sendable {
    case literal(String)
    /// The source offsets of the code inside `\( ... )`.
    case interpolation(Range<Int>)
}

public enum Keyword: String, CaseIterable, Sendable {
    case `let`, fn, `if`, `else`, `for`, `in`, `while`, `return`, `break`, `continue`, `import`
    case `true`, `false`, `nil`, and, or, not
}

public enum Symbol: String, CaseIterable, Sendable {
    case leftParen = "(", rightParen = ")", leftBracket = "[", rightBracket = "]"
    case leftBrace = "{", rightBrace = "}"
    case comma = ",", colon = ":", dot = "."
    case assign = "=", plusAssign = "+=", minusAssign = "-=", timesAssign = "*=", divideAssign = "/="
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case plus = "+", minus = "-", star = "*", slash = "/", percent = "%", power = "**"
    case pipe = "|>", halfOpenRange = "..<", closedRange = "..."
    case bang = "!", andAnd = "&&", orOr = "||"
}

extension Token.Kind {
    /// How the token reads in a message: `'('`, `name 'x'`, `end of line`.
    var spelled: String {
        switch self {
        case .identifier(let s): return "'\(s)'"
        case .number(let n): return "number \(formatNumber(n))"
        case .string: return "string"
        case .keyword(let k): return "'\(k.rawValue)'"
        case .symbol(let s): return "'\(s.rawValue)'"
        case .newline: return "end of line"
        case .invalid: return "invalid token"
        case .end: return "end of file"
        }
    }
}
