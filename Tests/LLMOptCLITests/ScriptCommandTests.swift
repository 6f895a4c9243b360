import Foundation
import XCTest

/// `llmopt FILE`, `llmopt run FILE --notebook OUT`, `llmopt -e`, `llmopt check`, and the REPL
/// on piped input, through the real executable: output, diagnostics and exit statuses.
final class ScriptCommandTests: XCTestCase {
    let scripts = "Tests/LLMOptCLITests/Scripts/"

    func testRunPrintsOutputAndExitsZero() throws {
        let r = try Binary.run(["-e", "let x = 6\nprint(x * 7)\n[a: 1]"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "42\n[a: 1]\n")
    }

    /// A value nested 400,000 deep, dropped in the middle of a script: freeing it releases one
    /// level per stack frame, more than an 8 MiB stack holds (it crashed at about 75,000).
    func testDeeplyNestedValueIsFreedMidScript() throws {
        let r = try Binary.run(["-e", "let a = []\nfor i in 0..<400000 { a = [a] }\nprint(len(a))\na = 0\nprint(a + 1)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "1\n1\n")
    }

    func testSyntaxErrorsAreAllReportedWithStatus65() throws {
        for args in [["check", scripts + "three_errors.llmopt"], [scripts + "three_errors.llmopt"]] {
            let r = try Binary.run(args)
            XCTAssertEqual(r.status, 65, args.joined(separator: " "))
            XCTAssertEqual(r.stdout, "", "nothing runs when the file has syntax errors")
            XCTAssertEqual(r.stderr, """
            \(scripts)three_errors.llmopt:3:8: error: expected an expression, found end of line
              let a = 
                     ^
            \(scripts)three_errors.llmopt:4:15: error: unexpected character '@'
              let naïve = 2 @ 3
                            ^
            \(scripts)three_errors.llmopt:6:13: error: expected ')' to close the argument list, found end of line
              print("é", 1
                          ^
            3 syntax errors

            """)
        }
    }

    func testRuntimeErrorShowsStackAndExits70() throws {
        let r = try Binary.run(["run", scripts + "runtime.llmopt"])
        XCTAssertEqual(r.status, 70)
        XCTAssertEqual(r.stdout, "start\nstill fine\n")
        XCTAssertEqual(r.stderr, """
        \(scripts)runtime.llmopt:2:18: error: cannot apply '+' to a number and a string
          fn add(a, b) { a + b }
                           ^
          in add() called at \(scripts)runtime.llmopt:3:15
          in twice() called at \(scripts)runtime.llmopt:5:1

        """)
    }

    func testUsageAndMissingFileStatuses() throws {
        XCTAssertEqual(try Binary.run(["-e"]).status, 64)
        XCTAssertEqual(try Binary.run(["run", scripts + "runtime.llmopt", "--notebook", "/tmp/x.pdf"]).status, 64)
        let missing = try Binary.run(["no-such-script.llmopt"])
        XCTAssertEqual(missing.status, 66)
        XCTAssertEqual(missing.stderr, "error: cannot read script 'no-such-script.llmopt'\n")
    }

    func testPipedREPLReadsPlainlyWithoutPromptsOrEscapes() throws {
        let input = """
        let x = 2
        x * 21
        fn f(a) {
          a + 1
        }
        print(f(x))
        oops(1)
        :vars
        print(ans)
        print("unterminated
        print([1,
          2])
        """
        let r = try Binary.run([], stdin: input, environment: ["LLMOPT_HISTORY": NSTemporaryDirectory() + "llmopt-pipe-history-\(getpid())"])
        XCTAssertEqual(r.stdout, "42\n3\nans  42\nf    <fn f(a)>\nx    2\n42\n[1, 2]\n")
        XCTAssertFalse(r.stdout.contains("\u{1b}") || r.stdout.contains("llmopt>"))
        XCTAssertTrue(r.stderr.hasPrefix("<stdin>:1:1: error: unknown name 'oops'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("<stdin>:1:7: error: unterminated string"), "an open string does not swallow the lines after it: \(r.stderr)")
        XCTAssertEqual(r.status, 70, "piped input ends with the status of its worst error")
    }

    func testNotebooksInMarkdownAndHTML() throws {
        let folder = NSTemporaryDirectory() + "llmopt-notebook-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for ext in ["md", "html"] {
            let out = "\(folder)/nb.\(ext)"
            let r = try Binary.run(["run", scripts + "notebook.llmopt", "--notebook", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            let page = try String(contentsOfFile: out, encoding: .utf8)
            // Every top-level statement's source is there, each followed by its output.
            XCTAssertTrue(page.contains(ext == "md" ? "let m = load(\"Tests/Fixtures/models/tiny-llama\")" : "<span class=\"k\">let</span> m = <span class=\"b\">load</span>("), ext)
            XCTAssertTrue(page.contains("hello notebook"), ext)
            if ext == "html" {
                XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>"))
                XCTAssertEqual(page.components(separatedBy: "<section class=\"cell\">").count - 1, 5)
                XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 2, "a histogram and a plot")
                XCTAssertTrue(page.contains("<polyline"), "the line plot")
                XCTAssertTrue(page.contains(">sparsity</text>"), "axis label")
                XCTAssertTrue(page.contains("<td class=\"num\">"), "the model summary table")
                let external = page.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
                XCTAssertFalse(external.contains("<script") || external.contains("http") || external.contains("<link"), "self-contained")
            } else {
                XCTAssertTrue(page.contains("```llmopt\nprint(\"hello notebook\")\n```\n\n```text\nhello notebook\n```"))
                XCTAssertEqual(page.components(separatedBy: "data:image/svg+xml;base64,").count - 1, 2)
            }
        }
    }
}
