import Foundation
@testable import LLMOptScript
import XCTest

/// Inputs a hostile or careless user writes: each ends in a diagnostic, never in a crash, a
/// hang or an allocation without bound (issue 15).
final class HostileScriptTests: XCTestCase {
    /// The syntax errors of `code`, rendered "line:column: message".
    private func syntaxErrors(_ code: String) -> [String] {
        let file = SourceFile(name: "hostile.llmopt", text: code)
        do {
            _ = try Interpreter.parse(file)
            return []
        } catch let e as SyntaxErrors {
            return e.diagnostics.map { d in
                let (line, column) = d.location.map { $0.file.lineColumn(of: $0.offset) } ?? (0, 0)
                return "\(line):\(column): \(d.message)"
            }
        } catch {
            return ["unexpected \(error)"]
        }
    }

    /// Runs `code` in a fresh interpreter; returns its printed lines and its error message.
    private func run(_ code: String, cancelAfter checks: Int? = nil) -> (output: [String], error: String?) {
        var output: [String] = []
        let interpreter = Interpreter(output: StreamOutput { output.append($0) })
        if let checks {
            var seen = 0
            interpreter.isCancelled = { seen += 1; return seen > checks }
        }
        do {
            try interpreter.run(SourceFile(name: "hostile.llmopt", text: code))
            return (output, nil)
        } catch let d as Diagnostic {
            return (output, d.message)
        } catch let e as SyntaxErrors {
            return (output, e.diagnostics.map(\.message).joined(separator: "; "))
        } catch {
            return (output, "\(error)")
        }
    }

    private let deep = 10_000
    private let tooDeep = "nested too deeply: more than 256 levels of brackets, blocks, operators or interpolations"

    func testNestedParenthesesStopAtTheLimitWithTheColumnOfTheLevelTooMany() {
        let code = String(repeating: "(", count: deep) + "1" + String(repeating: ")", count: deep)
        XCTAssertEqual(syntaxErrors(code), ["1:257: \(tooDeep)"])
        // Within the limit the expression runs.
        let fine = String(repeating: "(", count: 200) + "7" + String(repeating: ")", count: 200)
        XCTAssertEqual(run("print(\(fine))").output, ["7"])
    }

    func testNestedListsFunctionsIfsAndInterpolationsStopAtTheLimit() {
        let cases: [(String, String)] = [
            ("lists", String(repeating: "[", count: deep) + String(repeating: "]", count: deep)),
            ("functions", String(repeating: "fn(){", count: deep) + String(repeating: "}", count: deep)),
            ("ifs", String(repeating: "if true {\n", count: deep) + String(repeating: "}\n", count: deep)),
            ("unary minus", String(repeating: "-", count: deep) + "1"),
            ("not", String(repeating: "not ", count: deep) + "true"),
            ("power", Array(repeating: "2", count: deep).joined(separator: "**")),
            ("else if", "if false {}" + String(repeating: " else if false {}", count: deep)),
        ]
        for (name, code) in cases {
            let errors = syntaxErrors(code)
            XCTAssertFalse(errors.isEmpty, name)
            XCTAssertTrue(errors.allSatisfy { $0.hasSuffix(tooDeep) }, "\(name): \(errors.prefix(3))")
        }
        var interpolation = "1"
        for _ in 0..<1000 { interpolation = "\"\\(" + interpolation + ")\"" }
        let errors = syntaxErrors("print(\(interpolation))")
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors.first?.hasSuffix(tooDeep) ?? false, "\(errors)")
    }

    func testABadlyBrokenFileStopsAfterFiftyErrorsAndLongLinesAreShownAroundTheColumn() throws {
        let many = (0..<200).map { "let = \($0)" }.joined(separator: "\n")
        XCTAssertThrowsError(try Interpreter.parse(SourceFile(name: "many.llmopt", text: many))) { error in
            let diagnostics = (error as? SyntaxErrors)?.diagnostics ?? []
            XCTAssertEqual(diagnostics.count, 51)
            XCTAssertEqual(diagnostics.last?.message, "too many errors (50); stopping here")
        }
        let code = "print(1)\n" + String(repeating: "fn() { x y ", count: 3000) + "\n"
        let file = SourceFile(name: "broken.llmopt", text: code)
        do {
            _ = try Interpreter.parse(file)
            XCTFail("no error")
        } catch let e as SyntaxErrors {
            let rendered = DiagnosticRenderer.render(e.diagnostics[0])
            let lines = rendered.split(separator: "\n")
            XCTAssertEqual(lines.count, 3, rendered)
            XCTAssertLessThanOrEqual(lines[1].count, 2 + 162)
            // The caret stands under the token the error names.
            let caret = lines[2].count - 1
            XCTAssertEqual(Array(lines[1])[caret], "y", rendered)
        }
    }

    func testLongOperatorChainsAreRefusedAtParseTimeAndShortOnesRun() {
        // 100,000 terms: a left-deep tree that would overflow the stack when evaluated or freed.
        let long = Array(repeating: "1", count: 100_000).joined(separator: "+")
        let errors = syntaxErrors("let x = " + long)
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors.first?.contains("expression too deep: more than 1000 nested operations") ?? false, "\(errors)")
        for op in ["*", "and", "or", "=="] {
            let chain = Array(repeating: "1", count: 5000).joined(separator: " \(op) ")
            XCTAssertTrue(syntaxErrors(chain).first?.contains("expression too deep") ?? false, op)
        }
        XCTAssertTrue(syntaxErrors("1" + String(repeating: " |> f", count: 5000)).first?.contains("expression too deep") ?? false)
        let calls = "f" + String(repeating: "()", count: 5000)
        XCTAssertTrue(syntaxErrors(calls).first?.contains("expression too deep") ?? false)
        let fine = Array(repeating: "1", count: 900).joined(separator: "+")
        XCTAssertEqual(run("print(\(fine))").output, ["900"])
    }

    func testRecursionThatWouldOverflowTheStackEndsInAnError() {
        // Each call evaluates an expression 900 nodes deep before recursing.
        let deepSum = Array(repeating: "1", count: 899).joined(separator: "+")
        let code = "fn f(n) {\n  if n == 0 { return 0 }\n  return f(n - 1) + \(deepSum)\n}\nprint(f(150))"
        let result = run(code)
        XCTAssertEqual(result.output, [])
        XCTAssertEqual(result.error, "evaluation nested too deeply: the stack is nearly exhausted")
        // The same function with a shallow recursion runs.
        XCTAssertEqual(run(code.replacingOccurrences(of: "f(150)", with: "f(2)")).output, ["1798"])
    }

    func testDeeplyNestedValuesAreComparedShownAndFreedWithoutRecursion() {
        let r = run("let a = []\nfor i in 0..<200000 { a = [a] }\nprint(len(a), a == a)\nprint(len(\"\\(a)\"))\nprint([1, [2, [3]]] == [1, [2, [3]]], [1, [2, [3]]] == [1, [2, [4]]])")
        XCTAssertNil(r.error)
        // 64 levels are shown, deeper ones as "[…]".
        XCTAssertEqual(r.output, ["1 true", "131", "true false"])
    }

    func testRangesIterateLazily() {
        // A list of 10^15 numbers could never be built: the loop must count.
        let r = run("for i in 0..<999999999999999 {\n  if i == 3 { break }\n  print(i)\n}")
        XCTAssertNil(r.error)
        XCTAssertEqual(r.output, ["0", "1", "2"])
        XCTAssertEqual(run("for i in 5...7 { print(i) }").output, ["5", "6", "7"])
        XCTAssertEqual(run("for i in 3..<1 { print(i) }").output, [])
    }

    func testInterruptReachesEveryLoop() {
        for code in ["for i in 0..<999999999999999 {}", "while true {}", "let l = map(0..<1000000, fn(x) { x })",
                     "let l = sort(range(1000000), by: fn(x) { 0 - x })"] {
            let r = run(code, cancelAfter: 1000)
            XCTAssertEqual(r.error, "interrupted", code)
        }
    }

    /// Ctrl-C reaches the engine's long loops that take no isCancelled of their own: between
    /// tensors and calibration windows of quantize and prune, runs and decode steps of bench.
    func testInterruptReachesQuantizeAndPrune() {
        let load = "let m = load(\"\(GoldenScriptTests.packageRoot)/Tests/Fixtures/models/tiny-llama\")\nlet t = \"The license is a free, copyleft license for software and other kinds of works.\"\n"
        for call in ["quantize(m, \"gptq\", calibration: t)", "quantize(m, \"awq\", calibration: t)", "quantize(m, \"int4\")",
                     "prune(m, \"wanda\", calibration: t)", "prune(m, \"sparsegpt\", calibration: t)",
                     "bench(m, prompt: 8, decode: 8, runs: 2)"] {
            // Three checks: before each of the three statements; the fourth is inside the call.
            XCTAssertEqual(run(load + call, cancelAfter: 3).error, "interrupted", call)
            XCTAssertNil(run(load + call, cancelAfter: 100_000).error, call)
        }
    }

    func testSizesAreBoundedBeforeAllocating() {
        XCTAssertEqual(run("let s = \"a\" * 1e12").error,
                       "the string would have 1,000,000,000,000 bytes, more than a string may hold (100,000,000)")
        XCTAssertEqual(run("let s = \"ab\" * 1e300").error?.hasSuffix("more than a string may hold (100,000,000)"), true)
        XCTAssertEqual(run("let l = map(0..<100000000000, fn(x) { x })").error,
                       "map: argument 'list': the range 0..<100000000000 has 100,000,000,000 values, more than a list may hold (10,000,000); loop over it with 'for' instead")
        XCTAssertEqual(run("let l = range(0, 1e300, step: 1e-300)").error, "range: start, end and step must be finite numbers")
        XCTAssertEqual(run("let l = range(0, 1e30)").error, "range: 1e+30 values, more than a list may hold (10,000,000)")
        XCTAssertEqual(run("let s = \"x\" * 1000\nlet t = s\nfor i in 0..<20 { t = t + t }").error,
                       "the string would have 131,072,000 bytes, more than a string may hold (100,000,000)")
        XCTAssertEqual(run("print(round(1.5, digits: 1e9))").error, "round: argument 'digits' is 1000000000; use -15 to 15")
        XCTAssertEqual(run("print(round(1234.5678, digits: -2), round(1.25, digits: 1))").output, ["1200 1.3"])
        // Within the limits the values are made.
        XCTAssertEqual(run("print(len(\"ab\" * 3))\nprint(len(range(5)))").output, ["6", "5"])
    }
    /// Arguments that cannot mean anything are errors naming the argument and the reason.
    func testMeaninglessModelArgumentsAreErrors() throws {
        var output: [String] = []
        let interpreter = Interpreter(output: StreamOutput { output.append($0) })
        try interpreter.run(SourceFile(name: "setup", text: "let m = load(\"\(GoldenScriptTests.packageRoot)/Tests/Fixtures/models/tiny-llama\")"))
        let cases: [(String, String)] = [
            ("bench(m, prompt: 1e9)",
             "bench: prompt + decode = 1000000032 tokens exceed the model's context of 256 positions"),
            ("bench(m, prompt: 0)",
             "bench: argument 'prompt' must be positive, got 0"),
            ("bench(m, decode: 8, runs: 1e6)",
             "bench: argument 'runs' is 1000000; at most 1000 (the fastest of a few runs is what counts)"),
            ("quantize(m, \"int4\", bits: 9)",
             "quantize: argument 'bits' is 9; rtn, int2..int8, gptq and awq use 2 to 8 bits"),
            ("quantize(m, \"int4\", bits: 3)",
             "quantize: argument 'bits' is 3 but scheme 'int4' means 4 bits; use scheme \"rtn\" with bits: 3, or leave bits out"),
            ("quantize(m, \"rtn\", bits: 0)",
             "quantize: argument 'bits' is 0; rtn, int2..int8, gptq and awq use 2 to 8 bits"),
            ("quantize(m, \"rtn\", bits: 99)",
             "quantize: argument 'bits' is 99; rtn, int2..int8, gptq and awq use 2 to 8 bits"),
            ("quantize(m, \"bf16\", bits: 3)",
             "quantize: argument 'bits' does not apply to scheme 'bf16' (only to rtn, int2..int8, gptq and awq)"),
            ("quantize(m, \"q8_0\", group: 64)",
             "quantize: argument 'group' does not apply to scheme 'q8_0' (only to rtn, int2..int8, gptq and awq)"),
            ("quantize(m, \"rtn\", clip: false)",
             "quantize: argument 'clip' does not apply to scheme 'rtn' (only to awq)"),
            ("quantize(m, \"gptq\", calibration: \"Hello world\", samples: 1e9, length: 1e9)",
             "quantize: argument 'samples': 1000000000 windows of 10 tokens are more than the 16777216 tokens calibration holds; use fewer samples or a shorter length"),
            ("quantize(m, \"gptq\", calibration: \"Hello world\", dampening: -1)",
             "quantize: argument 'dampening': must be a finite number >= 0, got -1.0"),
            ("perplexity(m, \"a\", ctx: 8)",
             "perplexity: argument 'text': gives 2 tokens; at least 3 are needed (2 scored, for a mean and its error bar)"),
            ("save(m, \"\")",
             "save: argument 'path': is empty: give a file ending in .gguf or a folder name"),
            ("save(m, \"/dev/null\")",
             "save: /dev/null: exists and is not a folder; a model folder is saved only over a folder llmopt wrote")
        ]
        for (code, expected) in cases {
            do {
                try interpreter.run(SourceFile(name: "case", text: code))
                XCTFail("\(code): no error")
            } catch let d as Diagnostic {
                XCTAssertEqual(d.message, expected, code)
            }
        }
        try interpreter.run(SourceFile(name: "fine", text: "print(quantize(m, \"int4\", bits: 4).bytes < m.bytes, quantize(m, \"rtn\", bits: 3, group: 16).bytes < m.bytes)"))
        XCTAssertEqual(output, ["true true"])
    }
}
