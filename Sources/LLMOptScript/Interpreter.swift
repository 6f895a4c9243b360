import Foundation
import LLMOptCore

/// Where a running script's output goes: a terminal, a notebook, a test's buffer.
public protocol OutputSink: AnyObject {
    /// A top-level statement is about to run (a notebook starts a new cell).
    func beginStatement(_ statement: Stmt)
    /// Plain text from `print` (one or more lines, without the final line break).
    func write(_ text: String)
    /// The value of a bare expression statement, shown richly.
    func show(_ value: Value)
}

/// Walks the syntax tree. One interpreter holds one session: its global scope survives
/// between `run` calls, which is what the REPL needs.
public final class Interpreter {
    public private(set) var globals: Environment
    public var output: OutputSink
    /// Checked between statements and loop iterations, and passed to long engine calls, so
    /// Ctrl-C can stop a statement and keep the session.
    public var isCancelled: () -> Bool = { false }
    /// Where long evaluations report progress ("perplexity: window 3/71"); nil: nowhere.
    public var progress: ((String) -> Void)?

    /// Active user-function calls, outermost first.
    private var callStack: [StackFrame] = []
    private var importedFiles: Set<String> = []
    /// Bare expressions show their value only outside functions and imports.
    private var quietDepth = 0
    /// Below this stack address evaluation stops with an error (see `StackGuard`); found
    /// for the thread that runs the script.
    private var stackLimit: UInt = 0

    public init(output: OutputSink) {
        self.output = output
        self.globals = Interpreter.makeGlobals()
    }

    private static func makeGlobals() -> Environment {
        let env = Environment(parent: nil)
        for b in Builtins.all { env.define(b.name, .function(.builtin(b))) }
        return env
    }

    /// The global scope and the functions defined in it refer to each other: break the cycle
    /// so that a finished interpreter (a script, a fuzz case, a notebook cell run) is freed.
    deinit { globals.removeAll() }

    /// Forgets every variable (the REPL's `:reset`).
    public func reset() {
        globals.removeAll()
        globals = Interpreter.makeGlobals()
        importedFiles = []
    }

    /// Names of the variables the user defined, with their values.
    public var userVariables: [(String, Value)] {
        globals.localBindings.filter { name, value in
            if case .function(.builtin(let b)) = value, b.name == name { return false }
            return true
        }
    }

    /// Every name in scope (built-ins and variables), for completion.
    public var namesInScope: [String] { globals.allNames }

    // MARK: - Running

    /// Parses a whole file; throws `SyntaxErrors` with every error found.
    public static func parse(_ file: SourceFile) throws -> [Stmt] {
        var parser = Parser(file: file)
        let program = parser.parseProgram()
        if !parser.diagnostics.isEmpty { throw SyntaxErrors(diagnostics: parser.diagnostics) }
        return program
    }

    /// Parses and runs `file` in the global scope. Throws `SyntaxErrors` before running
    /// anything when the file has syntax errors, or the `Diagnostic` of a runtime error.
    public func run(_ file: SourceFile) throws {
        try execute(Interpreter.parse(file))
    }

    /// Runs top-level statements, announcing each to the output sink.
    public func execute(_ program: [Stmt]) throws {
        stackLimit = StackGuard.currentLimit() ?? 0
        for statement in program {
            output.beginStatement(statement)
            try checkCancelled(statement.location)
            do {
                try execute(statement, in: globals)
            } catch let flow as ControlFlow {
                throw flow.misplaced
            }
        }
    }

    /// Evaluates one expression in the global scope without showing it (the REPL's `:time`).
    public func evaluate(_ file: SourceFile) throws -> Value {
        let program = try Interpreter.parse(file)
        stackLimit = StackGuard.currentLimit() ?? 0
        guard program.count == 1, case .expression(let e) = program[0].kind else {
            throw Diagnostic(.syntax, "expected one expression", at: program.first?.location)
        }
        return try evaluate(e, in: globals)
    }

    private func checkCancelled(_ location: SourceLocation) throws {
        if isCancelled() { throw Diagnostic(.runtime, "interrupted", at: location, stack: stackTrace()) }
    }

    func stackTrace() -> [StackFrame] { callStack.reversed() }

    /// Stops a script whose recursion would overflow the thread's stack.
    private func checkStack(_ location: SourceLocation) throws {
        if StackGuard.here() < stackLimit {
            throw runtimeError("evaluation nested too deeply: the stack is nearly exhausted", at: location)
        }
    }

    func runtimeError(_ message: String, at location: SourceLocation) -> Diagnostic {
        Diagnostic(.runtime, message, at: location, stack: stackTrace())
    }

    // MARK: - Statements

    private enum ControlFlow: Error {
        case breakLoop(SourceLocation)
        case continueLoop(SourceLocation)
        case returnValue(Value, SourceLocation)

        var misplaced: Diagnostic {
            switch self {
            case .breakLoop(let l): return Diagnostic(.runtime, "'break' outside a loop", at: l)
            case .continueLoop(let l): return Diagnostic(.runtime, "'continue' outside a loop", at: l)
            case .returnValue(_, let l): return Diagnostic(.runtime, "'return' outside a function", at: l)
            }
        }
    }

    private func execute(_ block: [Stmt], scope: Environment) throws {
        for s in block { try execute(s, in: scope) }
    }

    private func execute(_ statement: Stmt, in env: Environment) throws {
        switch statement.kind {
        case .expression(let e):
            let v = try evaluate(e, in: env)
            if quietDepth == 0, !isNull(v) {
                globals.define("ans", v)
                output.show(v)
            }
        case .let(let name, let e):
            env.define(name, try evaluate(e, in: env))
        case .assign(let target, let op, let e):
            var v = try evaluate(e, in: env)
            if let op { v = try binary(op, try evaluate(target, in: env), v, at: statement.location) }
            try assign(target, v, in: env)
        case .function(let decl):
            env.define(decl.name!, .function(.user(UserFunction(declaration: decl, closure: env))))
        case .if(let condition, let then, let otherwise):
            if try evaluate(condition, in: env).isTruthy {
                try execute(then, scope: Environment(parent: env))
            } else if let otherwise {
                try execute(otherwise, scope: Environment(parent: env))
            }
        case .for(let name, let sequence, let body):
            /// Runs the body for one element; false after 'break'.
            func iteration(_ item: Value) throws -> Bool {
                try checkCancelled(statement.location)
                let scope = Environment(parent: env)
                scope.define(name, item)
                do {
                    try execute(body, scope: scope)
                } catch ControlFlow.breakLoop {
                    return false
                } catch ControlFlow.continueLoop {
                    return true
                }
                return true
            }
            let value = try evaluate(sequence, in: env)
            if case .range(let r) = value {
                // Ranges count lazily: `for i in 0..<100000000` holds one number at a time.
                var i = r.start
                while i < r.end, try iteration(.number(Double(i))) { i += 1 }
            } else {
                for item in try iterate(value, at: sequence.location) where try !iteration(item) { break }
            }
        case .while(let condition, let body):
            loop: while try evaluate(condition, in: env).isTruthy {
                try checkCancelled(statement.location)
                do {
                    try execute(body, scope: Environment(parent: env))
                } catch ControlFlow.breakLoop {
                    break loop
                } catch ControlFlow.continueLoop {
                    continue loop
                }
            }
        case .return(let e):
            throw ControlFlow.returnValue(try e.map { try evaluate($0, in: env) } ?? .null, statement.location)
        case .break:
            throw ControlFlow.breakLoop(statement.location)
        case .continue:
            throw ControlFlow.continueLoop(statement.location)
        case .import(let path):
            try importFile(path, at: statement.location)
        }
    }

    private func isNull(_ v: Value) -> Bool {
        if case .null = v { return true }
        return false
    }

    /// Runs another script's statements in the global scope, once per file; its bare
    /// expressions are not shown. Paths are relative to the importing script.
    private func importFile(_ path: String, at location: SourceLocation) throws {
        let base = (location.file.name as NSString).deletingLastPathComponent
        let full = path.hasPrefix("/") || base.isEmpty ? path : (base as NSString).appendingPathComponent(path)
        let key = (full as NSString).standardizingPath
        if importedFiles.contains(key) { return }
        guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
            throw runtimeError("cannot import '\(path)': no readable file at \(full)", at: location)
        }
        importedFiles.insert(key)
        let program = try Interpreter.parse(SourceFile(name: full, text: text))
        quietDepth += 1
        defer { quietDepth -= 1 }
        do {
            try execute(program, scope: globals)
        } catch let flow as ControlFlow {
            throw flow.misplaced
        }
    }

    private func assign(_ target: Expr, _ value: Value, in env: Environment) throws {
        switch target.kind {
        case .name(let name):
            guard env.assign(name, value) else {
                throw runtimeError("cannot assign to '\(name)': it is not defined (use 'let \(name) = ...')", at: target.location)
            }
        case .field(let objectExpr, let field):
            guard case .record(var r) = try evaluate(objectExpr, in: env) else {
                throw runtimeError("only fields of records can be assigned", at: target.location)
            }
            r[field] = value
            try assign(objectExpr, .record(r), in: env)
        case .index(let objectExpr, let indexExpr):
            let object = try evaluate(objectExpr, in: env)
            let index = try evaluate(indexExpr, in: env)
            switch (object, index) {
            case (.list(var items), .number(let n)):
                let i = try listIndex(n, count: items.count, at: indexExpr.location)
                items[i] = value
                try assign(objectExpr, .list(items), in: env)
            case (.record(var r), .string(let key)):
                r[key] = value
                try assign(objectExpr, .record(r), in: env)
            default:
                throw runtimeError("cannot assign to an element of a \(object.typeName) indexed by a \(index.typeName)", at: target.location)
            }
        default:
            throw runtimeError("cannot assign to this expression", at: target.location)
        }
    }

    // MARK: - Expressions

    func evaluate(_ expr: Expr, in env: Environment) throws -> Value {
        if expr.depth > 1 { try checkStack(expr.location) }
        switch expr.kind {
        case .number(let n): return .number(n)
        case .bool(let b): return .bool(b)
        case .nilLiteral: return .null
        case .string(let parts):
            var s = ""
            for part in parts {
                switch part {
                case .literal(let text): s += text
                case .expr(let e): s += Display.plain(try evaluate(e, in: env))
                }
            }
            return .string(s)
        case .name(let name):
            if let v = env.lookup(name) { return v }
            throw runtimeError("unknown name '\(name)'\(suggestion(for: name, in: env.allNames))", at: expr.location)
        case .list(let items):
            return .list(try items.map { try evaluate($0, in: env) })
        case .record(let fields):
            var r = Record()
            for (k, e) in fields { r[k] = try evaluate(e, in: env) }
            return .record(r)
        case .unary(let op, let operand):
            let v = try evaluate(operand, in: env)
            switch op {
            case .not: return .bool(!v.isTruthy)
            case .negate:
                guard case .number(let n) = v else { throw runtimeError("cannot negate a \(v.typeName)", at: expr.location) }
                return .number(-n)
            }
        case .binary(let op, let l, let r):
            return try binary(op, try evaluate(l, in: env), try evaluate(r, in: env), at: expr.location)
        case .and(let l, let r):
            let left = try evaluate(l, in: env)
            return left.isTruthy ? try evaluate(r, in: env) : left
        case .or(let l, let r):
            let left = try evaluate(l, in: env)
            return left.isTruthy ? left : try evaluate(r, in: env)
        case .range(let l, let r, let inclusive):
            let lo = try evaluate(l, in: env), hi = try evaluate(r, in: env)
            guard case .number(let a) = lo, case .number(let b) = hi, a == a.rounded(), b == b.rounded(), abs(a) < 1e15, abs(b) < 1e15 else {
                throw runtimeError("a range needs whole numbers, got \(lo.typeName) and \(hi.typeName)", at: expr.location)
            }
            return .range(ScriptRange(start: Int(a), end: Int(b) + (inclusive ? 1 : 0)))
        case .call(let calleeExpr, let args):
            let callee = try evaluate(calleeExpr, in: env)
            var positional: [Value] = []
            var named: [(String, Value)] = []
            for a in args {
                let v = try evaluate(a.value, in: env)
                if let label = a.label { named.append((label, v)) } else { positional.append(v) }
            }
            return try call(callee, positional: positional, named: named, at: expr.location)
        case .field(let objectExpr, let name):
            let object = try evaluate(objectExpr, in: env)
            do {
                return try Fields.get(name, of: object)
            } catch let e as ScriptError {
                throw runtimeError(e.message, at: expr.location)
            }
        case .index(let objectExpr, let indexExpr):
            return try index(try evaluate(objectExpr, in: env), try evaluate(indexExpr, in: env), at: indexExpr.location)
        case .function(let decl):
            return .function(.user(UserFunction(declaration: decl, closure: env)))
        }
    }

    /// Calls a function value with evaluated arguments.
    public func call(_ callee: Value, positional: [Value], named: [(String, Value)] = [], at location: SourceLocation) throws -> Value {
        guard case .function(let function) = callee else {
            throw runtimeError("a \(callee.typeName) cannot be called", at: location)
        }
        switch function {
        case .builtin(let b):
            do {
                let args = try Arguments(builtin: b, positional: positional, named: named, interpreter: self, location: location)
                // Engine loops without an isCancelled of their own ask this one (Ctrl-C).
                return try Cancellation.whileRunning(check: isCancelled) { try b.body(args) }
            } catch let e as ScriptError {
                throw runtimeError(e.message, at: location)
            } catch let e as LLMOptError {
                throw runtimeError(e == .cancelled ? "interrupted" : "\(b.name): \(e.description)", at: location)
            } catch let e as DistributedFailure {
                throw runtimeError("\(b.name): \(e.description)", at: location)
            }
        case .user(let f):
            return try callUser(f, positional: positional, named: named, at: location)
        }
    }

    private func callUser(_ f: UserFunction, positional: [Value], named: [(String, Value)], at location: SourceLocation) throws -> Value {
        let decl = f.declaration
        let name = decl.name ?? "<anonymous>"
        let params = decl.parameters
        if positional.count > params.count {
            throw runtimeError("\(name) takes at most \(params.count) argument\(params.count == 1 ? "" : "s"), got \(positional.count)", at: location)
        }
        if callStack.count >= 200 {
            throw runtimeError("too many nested calls (is '\(name)' recursing without end?)", at: location)
        }
        try checkStack(location)
        // Built-ins such as map and sort call user functions in loops of their own.
        try checkCancelled(location)
        let scope = Environment(parent: f.closure)
        var bound = Set<String>()
        for (p, v) in zip(params, positional) {
            scope.define(p.name, v)
            bound.insert(p.name)
        }
        for (label, v) in named {
            guard params.contains(where: { $0.name == label }) else {
                throw runtimeError("\(name) has no parameter '\(label)'\(suggestion(for: label, in: params.map(\.name)))", at: location)
            }
            guard bound.insert(label).inserted else {
                throw runtimeError("argument '\(label)' of \(name) given twice", at: location)
            }
            scope.define(label, v)
        }
        callStack.append(StackFrame(function: name, callSite: location))
        defer { callStack.removeLast() }
        for p in params where !bound.contains(p.name) {
            guard let d = p.defaultValue else {
                throw runtimeError("\(name) is missing argument '\(p.name)'", at: location)
            }
            scope.define(p.name, try evaluate(d, in: scope))
        }
        quietDepth += 1
        defer { quietDepth -= 1 }
        // The value of a body that ends with an expression is the function's result.
        do {
            for (i, s) in decl.body.enumerated() {
                if i == decl.body.count - 1, case .expression(let e) = s.kind {
                    return try evaluate(e, in: scope)
                }
                try execute(s, in: scope)
            }
        } catch ControlFlow.returnValue(let v, _) {
            return v
        } catch let flow as ControlFlow {
            throw flow.misplaced
        }
        return .null
    }

    private func iterate(_ v: Value, at location: SourceLocation) throws -> [Value] {
        switch v {
        case .list(let items): return items
        case .range(let r):
            do { return try Limits.list(of: r, for: "for") } catch let e as ScriptError { throw runtimeError(e.message, at: location) }
        case .record(let r): return r.keys.map { .string($0) }
        case .string(let s): return s.map { .string(String($0)) }
        default: throw runtimeError("cannot loop over a \(v.typeName)", at: location)
        }
    }

    private func listIndex(_ n: Double, count: Int, at location: SourceLocation) throws -> Int {
        guard n == n.rounded(), abs(n) < 1e15 else { throw runtimeError("index \(formatNumber(n)) is not a whole number", at: location) }
        let i = Int(n) < 0 ? count + Int(n) : Int(n)
        guard i >= 0, i < count else {
            throw runtimeError("index \(Int(n)) is out of range (\(count) element\(count == 1 ? "" : "s"))", at: location)
        }
        return i
    }

    /// The positions a range selects, checked against the collection's size.
    private func slice(_ r: ScriptRange, count: Int, at location: SourceLocation) throws -> Range<Int> {
        guard r.start >= 0, r.end <= count, r.start <= r.end else {
            throw runtimeError("slice \(r.start)..<\(r.end) is out of range (\(count) element\(count == 1 ? "" : "s"))", at: location)
        }
        return r.start..<r.end
    }

    private func index(_ object: Value, _ index: Value, at location: SourceLocation) throws -> Value {
        switch (object, index) {
        case (.list(let items), .number(let n)):
            return items[try listIndex(n, count: items.count, at: location)]
        case (.list(let items), .range(let r)):
            return .list(Array(items[try slice(r, count: items.count, at: location)]))
        case (.string(let s), .range(let r)):
            let chars = Array(s)
            return .string(String(chars[try slice(r, count: chars.count, at: location)]))
        case (.range(let r), .number(let n)):
            return .number(Double(r.start + (try listIndex(n, count: r.count, at: location))))
        case (.string(let s), .number(let n)):
            let chars = Array(s)
            return .string(String(chars[try listIndex(n, count: chars.count, at: location)]))
        case (.record(let r), .string(let key)):
            guard let v = r[key] else { throw runtimeError("no field '\(key)'\(suggestion(for: key, in: r.keys))", at: location) }
            return v
        case (.report(let r), .string(let key)):
            guard let v = r.fields[key] else { throw runtimeError("no field '\(key)'\(suggestion(for: key, in: r.fields.keys))", at: location) }
            return v
        case (.model(let m), .string(let name)):
            guard let t = m[name] else {
                throw runtimeError("the model has no tensor '\(name)'\(suggestion(for: name, in: m.weightOrder))", at: location)
            }
            return .tensor(TensorValue(name: name, tensor: t))
        default:
            throw runtimeError("cannot index a \(object.typeName) with a \(index.typeName)", at: location)
        }
    }

    // MARK: - Operators

    func binary(_ op: BinaryOperator, _ l: Value, _ r: Value, at location: SourceLocation) throws -> Value {
        switch op {
        case .equal: return .bool(Value.equal(l, r))
        case .notEqual: return .bool(!Value.equal(l, r))
        default: break
        }
        switch (l, r) {
        case (.number(let a), .number(let b)):
            switch op {
            case .add: return .number(a + b)
            case .subtract: return .number(a - b)
            case .multiply: return .number(a * b)
            case .divide:
                if b == 0 { throw runtimeError("division by zero", at: location) }
                return .number(a / b)
            case .remainder:
                if b == 0 { throw runtimeError("remainder by zero", at: location) }
                return .number(a - b * (a / b).rounded(.down))
            case .power: return .number(Foundation.pow(a, b))
            case .less: return .bool(a < b)
            case .lessEqual: return .bool(a <= b)
            case .greater: return .bool(a > b)
            case .greaterEqual: return .bool(a >= b)
            case .equal, .notEqual: break
            }
        case (.string(let a), .string(let b)):
            switch op {
            case .add:
                guard a.utf8.count + b.utf8.count <= Limits.stringBytes else {
                    throw runtimeError("the string would have \(Limits.spelled(a.utf8.count + b.utf8.count)) bytes, more than a string may hold (\(Limits.spelled(Limits.stringBytes)))", at: location)
                }
                return .string(a + b)
            case .less: return .bool(a < b)
            case .lessEqual: return .bool(a <= b)
            case .greater: return .bool(a > b)
            case .greaterEqual: return .bool(a >= b)
            default: break
            }
        case (.list(let a), .list(let b)) where op == .add:
            guard a.count + b.count <= Limits.listElements else {
                throw runtimeError("the list would have \(Limits.spelled(a.count + b.count)) elements, more than a list may hold (\(Limits.spelled(Limits.listElements)))", at: location)
            }
            return .list(a + b)
        case (.string(let s), .number(let n)) where op == .multiply && n >= 0 && n == n.rounded():
            let bytes = Double(s.utf8.count) * n
            guard bytes <= Double(Limits.stringBytes) else {
                throw runtimeError("the string would have \(bytes < 1e18 ? Limits.spelled(Int(bytes)) : "\(bytes)") bytes, more than a string may hold (\(Limits.spelled(Limits.stringBytes)))", at: location)
            }
            return .string(String(repeating: s, count: Int(n)))
        default: break
        }
        var hint = ""
        if op == .add, case .string = l { hint = " (write \"...\\(x)...\" to put a value into a string)" }
        throw runtimeError("cannot apply '\(op.rawValue)' to a \(l.typeName) and a \(r.typeName)\(hint)", at: location)
    }
}

extension Value {
    /// Structural equality for plain values; engine objects are equal only to themselves.
    /// Nested lists and records are compared with a work list, not recursion.
    public static func equal(_ a: Value, _ b: Value) -> Bool {
        var work = [(a, b)]
        while let (x, y) = work.popLast() {
            switch (x, y) {
            case (.list(let p), .list(let q)):
                guard p.count == q.count else { return false }
                work.append(contentsOf: zip(p, q))
            case (.record(let p), .record(let q)):
                guard p.keys.sorted() == q.keys.sorted() else { return false }
                for k in p.keys { work.append((p[k]!, q[k]!)) }
            default:
                guard shallowEqual(x, y) else { return false }
            }
        }
        return true
    }

    private static func shallowEqual(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.range(let x), .range(let y)): return x.start == y.start && x.end == y.end
        case (.text(let x), .text(let y)): return x.content == y.content
        case (.function(let x), .function(let y)):
            switch (x, y) {
            case (.builtin(let p), .builtin(let q)): return p.name == q.name
            case (.user(let p), .user(let q)): return p === q
            default: return false
            }
        default: return false
        }
    }
}
