import LLMOptCore

/// A function of the language implemented in Swift, with what `help` shows about it.
///
/// Each family of built-ins lives in one file of `Builtins/` as a static list; adding a
/// technique means adding one file with its list and naming that list in `Builtins.all`.
public struct Builtin {
    public struct Parameter {
        public enum Default {
            /// The caller must pass it.
            case required
            /// Optional; absent means `nil`.
            case absent
            case value(Value)
        }
        public let name: String
        public let defaultValue: Default
        public let help: String

        /// A required parameter.
        public init(_ name: String, _ help: String) {
            self.init(name, .required, help)
        }

        public init(_ name: String, _ defaultValue: Default, _ help: String) {
            self.name = name
            self.defaultValue = defaultValue
            self.help = help
        }
    }

    public let name: String
    /// The help topic it is listed under (`models`, `evaluation`...).
    public let family: String
    public let parameters: [Parameter]
    /// Every positional argument goes to `Arguments.rest` (as `print` and `compare` take them);
    /// the parameters are then given by name only.
    public let variadic: Bool
    public let summary: String
    /// The formula or rule it computes, in a few lines.
    public let math: String?
    /// A runnable example.
    public let example: String
    let body: (Arguments) throws -> Value

    public init(
        _ name: String, family: String, parameters: [Parameter] = [], variadic: Bool = false,
        summary: String, math: String? = nil, example: String, body: @escaping (Arguments) throws -> Value
    ) {
        self.name = name
        self.family = family
        self.parameters = parameters
        self.variadic = variadic
        self.summary = summary
        self.math = math
        self.example = example
        self.body = body
    }

    /// `perplexity(model, text, ctx: 256, stride: nil)`.
    public var signature: String {
        var parts = parameters.map { p -> String in
            switch p.defaultValue {
            case .required: return p.name
            case .absent: return "\(p.name): nil"
            case .value(let v): return "\(p.name): \(Display.literal(v))"
            }
        }
        if variadic { parts.insert("...", at: 0) }
        return "\(name)(\(parts.joined(separator: ", ")))"
    }
}

/// An error raised by a built-in; the interpreter adds the call's location.
public struct ScriptError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// The arguments of one built-in call, bound to parameter names, with typed accessors that
/// raise errors naming the function and the argument.
public struct Arguments {
    public let builtin: Builtin
    let values: [String: Value]
    /// Names of the arguments the call wrote (not filled in from defaults).
    public let given: Set<String>
    /// Extra positional arguments of a variadic built-in.
    public let rest: [Value]
    public let interpreter: Interpreter
    /// Where the call is written (for calling back into user functions).
    public let location: SourceLocation

    /// Binds positional and named arguments to the built-in's parameters.
    init(builtin: Builtin, positional: [Value], named: [(String, Value)], interpreter: Interpreter, location: SourceLocation) throws {
        self.builtin = builtin
        self.interpreter = interpreter
        self.location = location
        var values: [String: Value] = [:]
        var rest: [Value] = []
        for (i, v) in positional.enumerated() {
            if builtin.variadic {
                rest.append(v)
            } else if i < builtin.parameters.count {
                values[builtin.parameters[i].name] = v
            } else {
                let n = builtin.parameters.count
                throw ScriptError("\(builtin.name) takes \(n == 0 ? "no" : "at most \(n)") positional argument\(n == 1 ? "" : "s"), got \(positional.count)")
            }
        }
        for (label, v) in named {
            guard builtin.parameters.contains(where: { $0.name == label }) else {
                throw ScriptError("\(builtin.name) has no argument '\(label)'\(suggestion(for: label, in: builtin.parameters.map(\.name)))")
            }
            if values[label] != nil { throw ScriptError("argument '\(label)' of \(builtin.name) given twice") }
            values[label] = v
        }
        self.given = Set(values.keys)
        for p in builtin.parameters where values[p.name] == nil {
            switch p.defaultValue {
            case .required: throw ScriptError("\(builtin.name) is missing argument '\(p.name)' (\(builtin.signature))")
            case .absent: break
            case .value(let v): values[p.name] = v
            }
        }
        self.values = values
        self.rest = rest
    }

    public func value(_ name: String) -> Value { values[name] ?? .null }

    public func has(_ name: String) -> Bool {
        if case .null = value(name) { return false }
        return true
    }

    private func wrongType(_ name: String, _ expected: String) -> ScriptError {
        ScriptError("\(builtin.name): argument '\(name)' must be \(expected), got \(value(name).typeName)")
    }

    public func number(_ name: String) throws -> Double {
        guard case .number(let n) = value(name) else { throw wrongType(name, "a number") }
        return n
    }

    public func int(_ name: String) throws -> Int {
        let n = try number(name)
        guard n == n.rounded(), abs(n) < 1e15 else { throw ScriptError("\(builtin.name): argument '\(name)' must be a whole number, got \(formatNumber(n))") }
        return Int(n)
    }

    public func optionalInt(_ name: String) throws -> Int? { has(name) ? try int(name) : nil }

    public func string(_ name: String) throws -> String {
        guard case .string(let s) = value(name) else { throw wrongType(name, "a string") }
        return s
    }

    public func optionalString(_ name: String) throws -> String? { has(name) ? try string(name) : nil }

    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let b) = value(name) else { throw wrongType(name, "true or false") }
        return b
    }

    public func model(_ name: String) throws -> Model {
        guard case .model(let m) = value(name) else { throw wrongType(name, "a model (from load)") }
        return m
    }

    public func tensor(_ name: String) throws -> TensorValue {
        guard case .tensor(let t) = value(name) else { throw wrongType(name, "a tensor") }
        return t
    }

    /// A text value, or a string taken as the text itself.
    public func text(_ name: String) throws -> TextValue {
        switch value(name) {
        case .text(let t): return t
        case .string(let s): return TextValue(content: s, source: nil)
        default: throw wrongType(name, "a text (from text(\"file\")) or a string")
        }
    }

    /// Calls a function value given as an argument.
    public func call(_ function: Value, _ arguments: [Value]) throws -> Value {
        try interpreter.call(function, positional: arguments, at: location)
    }

    public func list(_ name: String) throws -> [Value] {
        switch value(name) {
        case .list(let l): return l
        case .range(let r): return try Limits.list(of: r, for: "\(builtin.name): argument '\(name)'")
        default: throw wrongType(name, "a list")
        }
    }

    /// A list of numbers (or a range) as doubles.
    public func numbers(_ name: String) throws -> [Double] {
        try list(name).map { v in
            guard case .number(let n) = v else { throw ScriptError("\(builtin.name): argument '\(name)' must hold numbers, found a \(v.typeName)") }
            return n
        }
    }
}

/// Every built-in, by family. Add a family's list here.
public enum Builtins {
    public static let all: [Builtin] = core + inspection + models + texts + generation + evaluation + pruning + quantization + autoQuantization + training + compressionTraining + distributed + plotting + helpTopics

    public static let byName: [String: Builtin] = {
        var map: [String: Builtin] = [:]
        for b in all {
            precondition(map[b.name] == nil, "built-in '\(b.name)' defined twice")
            map[b.name] = b
        }
        return map
    }()
}
