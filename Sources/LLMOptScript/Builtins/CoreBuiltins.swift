import Foundation

extension Builtins {
    /// Printing, sizes, conversions, arithmetic helpers and list functions.
    static let core: [Builtin] = [
        Builtin("print", family: "core", variadic: true,
                summary: "Prints its arguments separated by spaces, plainly (strings without quotes, numbers in full).",
                example: "print(\"ppl\", 12.5, [1, 2])") { args in
            args.interpreter.output.write(args.rest.map(Display.plain).joined(separator: " "))
            return .null
        },
        Builtin("show", family: "core", parameters: [.init("value", "what to show")],
                summary: "Shows a value the way a bare expression does (summary, statistics, table), also inside functions and loops.",
                example: "for x in [1, 2] { show(x * 10) }") { args in
            args.interpreter.output.show(args.value("value"))
            return .null
        },
        Builtin("len", family: "core", parameters: [.init("value", "a list, string, record, range or text")],
                summary: "The number of elements of a list, characters of a string or text, fields of a record.",
                example: "len([1, 2, 3])   # 3") { args in
            switch args.value("value") {
            case .list(let l): return .number(Double(l.count))
            case .string(let s): return .number(Double(s.count))
            case .record(let r): return .number(Double(r.count))
            case .range(let r): return .number(Double(r.count))
            case .text(let t): return .number(Double(t.content.count))
            case let v: throw ScriptError("len: a \(v.typeName) has no length")
            }
        },
        Builtin("type", family: "core", parameters: [.init("value", "any value")],
                summary: "The name of a value's type: number, string, bool, nil, list, record, range, function, model, tensor, text, report, plot.",
                example: "type(3)   # \"number\"") { args in
            .string(args.value("value").typeName)
        },
        Builtin("str", family: "core", parameters: [.init("value", "any value")],
                summary: "A value as the string `print` would show.",
                example: "str(0.5) + \"!\"") { args in
            .string(Display.plain(args.value("value")))
        },
        Builtin("num", family: "core", parameters: [.init("value", "a number or a string holding one")],
                summary: "A string read as a number.",
                example: "num(\"2.5\") * 2") { args in
            switch args.value("value") {
            case .number(let n): return .number(n)
            case .string(let s):
                guard let n = Double(s.trimmingCharacters(in: .whitespaces)) else { throw ScriptError("num: '\(s)' is not a number") }
                return .number(n)
            case let v: throw ScriptError("num: cannot make a number from a \(v.typeName)")
            }
        },
        Builtin("range", family: "core",
                parameters: [.init("start", "first value, or the end when given alone"), .init("end", .absent, "end (excluded)"),
                             .init("step", .value(.number(1)), "distance between values")],
                summary: "A list of numbers from start up to end (excluded), by step; range(n) counts 0..<n.",
                example: "range(0, 1, step: 0.25)   # [0, 0.25, 0.5, 0.75]") { args in
            var start = try args.number("start"), end = 0.0
            if args.has("end") { end = try args.number("end") } else { (start, end) = (0, start) }
            let step = try args.number("step")
            guard step != 0 else { throw ScriptError("range: step must not be 0") }
            let count = ((end - start) / step).rounded(.up)
            guard count.isFinite, start.isFinite else { throw ScriptError("range: start, end and step must be finite numbers") }
            guard count <= Double(Limits.listElements) else {
                throw ScriptError("range: \(count < 1e18 ? Limits.spelled(Int(count)) : "\(count)") values, more than a list may hold (\(Limits.spelled(Limits.listElements)))")
            }
            let n = Int(count)
            return .list((0..<max(0, n)).map { .number(start + Double($0) * step) })
        },
        Builtin("keys", family: "core", parameters: [.init("record", "a record or report")],
                summary: "The field names of a record or a report, in order.",
                example: "keys([a: 1, b: 2])   # [\"a\", \"b\"]") { args in
            switch args.value("record") {
            case .record(let r): return .list(r.keys.map { .string($0) })
            case .report(let r): return .list(r.fields.keys.map { .string($0) })
            case let v: return .list(Fields.names(of: v).map { .string($0) })
            }
        },
        Builtin("append", family: "core", parameters: [.init("list", "a list"), .init("value", "the element to add")],
                summary: "A new list with one more element at the end (the list itself is unchanged).",
                example: "let xs = append([1, 2], 3)") { args in
            .list(try args.list("list") + [args.value("value")])
        },
        Builtin("contains", family: "core", parameters: [.init("collection", "a list, string or record"), .init("value", "what to look for")],
                summary: "Whether a list holds a value, a string a substring, or a record a field.",
                example: "contains(\"wanda\", \"and\")   # true") { args in
            switch (args.value("collection"), args.value("value")) {
            case (.list(let l), let v): return .bool(l.contains { Value.equal($0, v) })
            case (.string(let s), .string(let sub)): return .bool(s.contains(sub))
            case (.record(let r), .string(let k)): return .bool(r[k] != nil)
            case (let c, let v): throw ScriptError("contains: cannot look for a \(v.typeName) in a \(c.typeName)")
            }
        },
        Builtin("sum", family: "core", parameters: [.init("values", "a list of numbers")],
                summary: "The sum of a list of numbers.", example: "sum([1, 2, 3])   # 6") { args in
            .number(try args.numbers("values").reduce(0, +))
        },
        Builtin("mean", family: "core", parameters: [.init("values", "a list of numbers")],
                summary: "The arithmetic mean of a list of numbers.", math: "mean = (x_1 + ... + x_n) / n",
                example: "mean([1, 2, 3, 4])   # 2.5") { args in
            let xs = try args.numbers("values")
            guard !xs.isEmpty else { throw ScriptError("mean: the list is empty") }
            return .number(xs.reduce(0, +) / Double(xs.count))
        },
        Builtin("min", family: "core", variadic: true,
                summary: "The smallest of its arguments, or of one list.", example: "min(3, 1, 2)   # 1") { args in
            try extreme(args, name: "min", <)
        },
        Builtin("max", family: "core", variadic: true,
                summary: "The largest of its arguments, or of one list.", example: "max([3, 1, 2])   # 3") { args in
            try extreme(args, name: "max", >)
        },
        math("abs", "The absolute value.", "abs(-2)   # 2") { abs($0) },
        math("sqrt", "The square root.", "sqrt(16)   # 4") { $0.squareRoot() },
        math("exp", "e to the power x.", "exp(0)   # 1") { Foundation.exp($0) },
        math("log", "The natural logarithm.", "log(exp(2))   # 2") { Foundation.log($0) },
        math("floor", "The largest whole number not above x.", "floor(2.7)   # 2") { $0.rounded(.down) },
        Builtin("round", family: "core", parameters: [.init("x", "a number"), .init("digits", .value(.number(0)), "decimal digits to keep")],
                summary: "A number rounded half away from zero to some decimal digits.",
                example: "round(3.14159, digits: 2)   # 3.14") { args in
            let x = try args.number("x"), digits = try args.int("digits")
            // A double holds 15 to 17 significant digits: more cannot change the value, and
            // 10^digits past ±308 is infinite or zero (the result was nan).
            guard (-15...15).contains(digits) else { throw ScriptError("round: argument 'digits' is \(digits); use -15 to 15") }
            let scale = Foundation.pow(10.0, Double(digits))
            return .number((x * scale).rounded() / scale)
        },
        Builtin("map", family: "core", parameters: [.init("list", "a list or range"), .init("function", "called with each element")],
                summary: "A list of the function's results for each element.",
                example: "map([1, 2, 3], fn(x) { x * x })   # [1, 4, 9]") { args in
            let f = args.value("function")
            return .list(try args.list("list").map { try args.call(f, [$0]) })
        },
        Builtin("filter", family: "core", parameters: [.init("list", "a list or range"), .init("function", "returns true to keep an element")],
                summary: "The elements for which the function returns a true value.",
                example: "filter(range(10), fn(x) { x % 2 == 0 })") { args in
            let f = args.value("function")
            return .list(try args.list("list").filter { try args.call(f, [$0]).isTruthy })
        },
        Builtin("sort", family: "core", parameters: [.init("list", "numbers or strings"), .init("by", .absent, "a function giving the key to sort by")],
                summary: "A sorted copy of a list (numbers or strings, or by a key function).",
                example: "sort([3, 1, 2])   # [1, 2, 3]") { args in
            let items = try args.list("list")
            let keys: [Value] = args.has("by") ? try items.map { try args.call(args.value("by"), [$0]) } : items
            var failure: ScriptError? = nil
            let order = Array(items.indices).sorted { i, j in
                switch (keys[i], keys[j]) {
                case (.number(let a), .number(let b)): return a < b
                case (.string(let a), .string(let b)): return a < b
                default:
                    failure = ScriptError("sort: can only sort numbers or strings, found \(keys[i].typeName) and \(keys[j].typeName)")
                    return false
                }
            }
            if let failure { throw failure }
            return .list(order.map { items[$0] })
        },
        Builtin("join", family: "core", parameters: [.init("list", "values to join"), .init("separator", .value(.string(", ")), "put between them")],
                summary: "The elements as one string, separated.", example: "join([1, 2, 3], \" + \")") { args in
            .string(try args.list("list").map(Display.plain).joined(separator: try args.string("separator")))
        },
        Builtin("assert", family: "core", parameters: [.init("condition", "must be true"), .init("message", .value(.string("assertion failed")), "the error when it is not")],
                summary: "Stops the script with an error when the condition is false.",
                example: "assert(1 + 1 == 2, \"arithmetic is broken\")") { args in
            if !args.value("condition").isTruthy { throw ScriptError(try args.string("message")) }
            return .null
        },
        Builtin("clock", family: "core", summary: "Seconds since an arbitrary moment, for timing.",
                example: "let t0 = clock()\nlet p = perplexity(m, t)\nprint(clock() - t0)") { _ in
            .number(Date().timeIntervalSinceReferenceDate)
        },
    ]

    private static func math(_ name: String, _ summary: String, _ example: String, _ f: @escaping (Double) -> Double) -> Builtin {
        Builtin(name, family: "core", parameters: [.init("x", "a number")], summary: summary, example: example) { args in
            .number(f(try args.number("x")))
        }
    }

    private static func extreme(_ args: Arguments, name: String, _ better: (Double, Double) -> Bool) throws -> Value {
        var values = args.rest
        if values.count == 1, case .list(let l) = values[0] { values = l }
        guard !values.isEmpty else { throw ScriptError("\(name): no values") }
        var best: Double? = nil
        for v in values {
            guard case .number(let n) = v else { throw ScriptError("\(name): expected numbers, found a \(v.typeName)") }
            if best == nil || better(n, best!) { best = n }
        }
        return .number(best!)
    }
}
