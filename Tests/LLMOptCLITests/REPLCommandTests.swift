import Foundation
import XCTest

/// The REPL's `:load`, `:time`, `:vars` and `:reset` on piped input (the same loop as the
/// terminal, without line editing).
final class REPLCommandTests: XCTestCase {
    func testLoadTimeVarsAndReset() throws {
        let input = """
        let x = 41
        :load Tests/LLMOptScriptTests/Scripts/lib/helpers.llmopt
        print(double(x))
        :time x + 1
        :vars
        :reset
        print(x)

        """
        let r = try Binary.run([], stdin: input)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        // :load runs the file in this session: its function is callable afterwards.
        XCTAssertTrue(lines.contains("82"), r.stdout)
        // :time reports a mean and a spread over repeated runs.
        XCTAssertTrue(lines.contains { $0.contains("(mean ± std of") && $0.contains("runs; min") }, r.stdout)
        // :vars lists the session's variables, the loaded ones included.
        XCTAssertTrue(lines.contains { $0.hasPrefix("x ") && $0.hasSuffix(" 41") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("double ") && $0.contains("<fn double(x)>") }, r.stdout)
        XCTAssertTrue(lines.contains("session reset"), r.stdout)
        // After :reset the variable is gone.
        XCTAssertTrue(r.stderr.contains("unknown name 'x'"), r.stderr)
        XCTAssertNotEqual(r.status, 0, "piped input ends with the status of its worst error")
    }

    /// A pasted line nested 10,000 deep (which killed the session) is a syntax error; the
    /// session goes on.
    func testDeeplyNestedInputKeepsTheSession() throws {
        let deep = String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
        let r = try Binary.run([], stdin: "let a = 1\n\(deep)\nprint(a + 1)\n")
        XCTAssertTrue(r.stderr.contains("nested too deeply"), r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").last, "2", r.stdout)
    }
}
