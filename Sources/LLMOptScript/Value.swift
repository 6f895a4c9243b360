import LLMOptCore

/// A value of the language. Engine objects (models, tensors, texts, reports) are values too:
/// an operation on a model returns a new model and leaves its input as it was.
public enum Value {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([Value])
    case record(Record)
    case range(ScriptRange)
    case function(Function)
    case model(Model)
    case tensor(TensorValue)
    case text(TextValue)
    case report(Report)
    case plot(Plot)

    /// The type's name as messages and `type(x)` show it.
    public var typeName: String {
        switch self {
        case .null: return "nil"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .list: return "list"
        case .record: return "record"
        case .range: return "range"
        case .function: return "function"
        case .model: return "model"
        case .tensor: return "tensor"
        case .text: return "text"
        case .report: return "report"
        case .plot: return "plot"
        }
    }

    /// `nil` and `false` are false; everything else is true.
    public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        default: return true
        }
    }
}

/// Fields in the order they were written.
extension Value {
    /// Frees values without recursion: lists nested 200,000 deep (`a = [a]` in a loop) would
    /// otherwise overflow the stack when the last reference goes, each list releasing the next.
    /// Each value's elements go on `stack` before the value itself is released, so a release
    /// never finds an element whose count drops to zero.
    static func dismantle(_ stack: inout [Value]) {
        while let v = stack.popLast() {
            switch v {
            case .list(let items): stack.append(contentsOf: items)
            case .record(let r): for (_, x) in r.pairs { stack.append(x) }
            default: break
            }
        }
    }
}

public struct Record {
    public private(set) var keys: [String] = []
    private var values: [String: Value] = [:]

    public init() {}
    public init(_ pairs: [(String, Value)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(key: String) -> Value? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var pairs: [(String, Value)] { keys.map { ($0, values[$0]!) } }
    public var count: Int { keys.count }
}

/// `a..<b` (or `a...b`, stored half-open): the integers from `start` up to `end`, excluded.
public struct ScriptRange {
    public let start: Int
    public let end: Int
    public var count: Int { Swift.max(0, end - start) }
}

/// A callable: a user function (a closure over its scope) or a built-in.
public enum Function {
    case user(UserFunction)
    case builtin(Builtin)

    public var name: String {
        switch self {
        case .user(let f): return f.declaration.name ?? "<anonymous>"
        case .builtin(let b): return b.name
        }
    }
}

public final class UserFunction {
    public let declaration: FunctionDecl
    let closure: Environment

    init(declaration: FunctionDecl, closure: Environment) {
        self.declaration = declaration
        self.closure = closure
    }
}

/// A tensor with the name it has in its model, when it came from one.
public struct TensorValue {
    public let name: String?
    public let tensor: Tensor
}

/// Text to evaluate or tokenize, with the file it came from.
public struct TextValue {
    public let content: String
    public let source: String?
}

/// The result of a measurement: named fields (`.ppl`, `.n_scored`) plus how it reads on screen.
public struct Report {
    public var title: String
    public var fields: Record
    /// Lines printed under the title (the protocol, the error bar...).
    public var lines: [String]
    public var table: Table?
    public var histogram: Histogram?

    public init(title: String, fields: Record, lines: [String] = [], table: Table? = nil, histogram: Histogram? = nil) {
        self.title = title
        self.fields = fields
        self.lines = lines
        self.table = table
        self.histogram = histogram
    }
}

/// A table of text cells; numeric columns are right-aligned when rendered.
public struct Table {
    public var columns: [String]
    public var rows: [[String]]

    public init(columns: [String], rows: [[String]]) {
        self.columns = columns
        self.rows = rows
    }
}

/// A chart made by `plot(...)`: one or more series drawn as lines, points or bars.
public struct Plot {
    public enum Style: String, CaseIterable { case line, scatter, bar }
    public struct Series {
        public var name: String
        public var x: [Double]
        public var y: [Double]
    }
    public var style: Style
    public var series: [Series]
    public var title: String
    public var xLabel: String
    public var yLabel: String
}
