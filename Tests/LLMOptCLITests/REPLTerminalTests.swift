import Foundation
import LLMOptREPL
import XCTest

/// Drives the real REPL in a terminal (tmux): line editing, Tab completion, continuation
/// prompts, Ctrl-C stopping a running statement with the session intact, history across
/// sessions, Ctrl-D leaving.
final class REPLTerminalTests: XCTestCase {
    /// Thrown to stop a test that cannot go on; XCTest reports it as a failure with this text.
    struct TerminalTestError: Error, CustomStringConvertible {
        let description: String
    }

    private var session = ""
    private var history = ""

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            throw TerminalTestError(description: "tmux is not installed: run Scripts/setup (the terminal REPL tests drive the REPL through it)")
        }
        session = "llmopt-test-\(getpid())"
        history = NSTemporaryDirectory() + "llmopt-history-\(getpid())"
        try? FileManager.default.removeItem(atPath: history)
    }

    override func tearDown() {
        _ = try? tmux(["kill-session", "-t", session])
        try? FileManager.default.removeItem(atPath: history)
    }

    /// Runs a tmux command through `system` (fork, exec, waitpid): Foundation's `Process` has
    /// been seen to miss the exit of the short-lived tmux client and wait forever. Output, when
    /// wanted, goes through a file, so the server that `new-session` starts holds no pipe open.
    @discardableResult
    private func tmux(_ arguments: [String], readOutput: Bool = false) throws -> String {
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let outFile = NSTemporaryDirectory() + "llmopt-tmux-\(getpid()).out"
        let command = (["/usr/bin/tmux"] + arguments).map(quoted).joined(separator: " ")
            + " >" + (readOutput ? quoted(outFile) : "/dev/null") + " 2>/dev/null </dev/null"
        let status = system(command)
        guard status != -1 else { throw TerminalTestError(description: "cannot run tmux: \(String(cString: strerror(errno)))") }
        guard readOutput else { return "" }
        defer { try? FileManager.default.removeItem(atPath: outFile) }
        return (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? ""
    }

    private func start(environment: String? = nil) throws {
        try tmux(["new-session", "-d", "-s", session, "-x", "120", "-y", "50", "-c", Binary.packageRoot,
                  "env \(environment ?? "LLMOPT_HISTORY=\(history)") TERM=xterm \(Binary.path)"])
        try waitFor("llmopt>")
    }

    /// Waits until `condition` holds (the REPL acts in milliseconds; tests allow seconds).
    private func eventually(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        throw TerminalTestError(description: "timed out waiting for \(what); screen:\n\(try screen())")
    }

    private func sessionEnded() throws -> Bool { !(try tmux(["list-sessions"], readOutput: true).contains(session)) }

    private func send(_ keys: String...) throws { try tmux(["send-keys", "-t", session] + keys) }

    private func screen() throws -> String { try tmux(["capture-pane", "-p", "-t", session, "-S", "-200"], readOutput: true) }

    /// Waits until the screen contains `text` (the REPL answers in milliseconds; tests allow seconds).
    private func waitFor(_ text: String, count: Int = 1, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try screen().components(separatedBy: text).count - 1 >= count { return }
            usleep(50_000)
        }
        throw TerminalTestError(description: "timed out waiting for \(text.debugDescription) ×\(count); screen:\n\(try screen())")
    }

    func testEditingCompletionContinuationInterruptAndHistory() throws {
        try start()
        try send("let abcdef = 20", "Enter")
        try waitFor("llmopt>", count: 2)
        // Tab completes a variable in scope.
        try send("abc", "Tab")
        try waitFor("llmopt> abcdef")
        try send(" + 1", "Enter")
        try waitFor("\n21\n")
        // A block continues on a continuation prompt until it closes.
        try send("fn twice(x) {", "Enter")
        try waitFor("   ...>")
        try send("x * 2", "Enter", "}", "Enter")
        try send("print(twice(4))", "Enter")
        try waitFor("\n8\n")
        // Fields of the value before the dot, and named arguments of the call.
        try send("let m = load(\"Tests/Fixtures/models/tiny-", "Tab")
        try waitFor("load(\"Tests/Fixtures/models/tiny-")
        try send("l", "Tab")
        try waitFor("tiny-llama/")
        try send("\")", "Enter")
        try send("m.layers[0].", "Tab")
        try waitFor("attention_norm  mlp")
        try send("mlp.u", "Tab")
        try waitFor("m.layers[0].mlp.up")
        try send(".sha", "Tab")
        try waitFor("m.layers[0].mlp.up.shape")
        try send("Enter")
        try waitFor("[172, 64]")
        try send("perplexity(m, \"a b\", ", "Tab")
        try waitFor("max_tokens:")
        try send("C-c")
        try waitFor("llmopt>", count: 10)
        // Ctrl-C stops a running statement; the session keeps its variables.
        try send("for i in 0..<999999999999999 {", "Enter", "if i == 1000 { print(\"loop running\") }", "Enter", "abcdef += 1 }", "Enter")
        try waitFor("\nloop running")
        try send("C-c")
        try waitFor("error: interrupted")
        try send("print(abcdef > 20, twice(5))", "Enter")
        try waitFor("true 10")
        try send(":quit", "Enter")
        try eventually("the REPL to leave") { try sessionEnded() }
        let saved = try String(contentsOfFile: history, encoding: .utf8)
        XCTAssertTrue(saved.contains("twice(4)"), saved)

        // History survives into the next session: Up recalls the last entries.
        try start()
        try send("Up", "Up")
        try waitFor("llmopt> print(abcdef > 20, twice(5))")
        try send("C-c")
        try send("C-d")
        try eventually("Ctrl-D to leave the REPL") { try sessionEnded() }
    }

    /// History goes to $HOME/.llmopt_history (not the account's home from the password
    /// database), and a history holding a line too long for libedit's Ctrl-R search (which
    /// spun for minutes on 300,000 characters) is cleaned of it when the REPL starts.
    func testHistoryFollowsHOMEAndDropsOverlongEntries() throws {
        let home = NSTemporaryDirectory() + "llmopt-home-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let file = home + "/.llmopt_history"
        let long = "print(\"" + String(repeating: "x", count: 300_000) + "\")"
        try "_HiStOrY_V2_\nlet\\040kept\\040=\\0401\n\(long)\n".write(toFile: file, atomically: true, encoding: .utf8)
        try start(environment: "-u LLMOPT_HISTORY HOME=\(home)")
        // Up recalls the entry that was kept.
        try send("Up")
        try waitFor("llmopt> let kept = 1")
        try send("C-c")
        try send("print(6 * 7)", "Enter")
        try waitFor("\n42\n")
        try send(":quit", "Enter")
        try eventually("the REPL to leave") { try sessionEnded() }
        let saved = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertTrue(saved.contains("print(6\\040*\\0407)") || saved.contains("print(6 * 7)"), saved)
        XCTAssertTrue(saved.contains("kept"), saved)
        XCTAssertFalse(saved.contains("xxxxxxxxxx"), "the 300,000-character entry is gone")
    }

    /// Ctrl-R over a full history of the longest entries kept (1000 of 1 KB) answers each
    /// keystroke, and the REPL goes on after it; entries just over the limit are dropped.
    func testReverseSearchOverAFullHistoryStaysResponsive() throws {
        let longest = "print(\"" + String(repeating: "ab", count: 507) + "a\")"
        XCTAssertEqual(longest.utf8.count, 1024)
        XCTAssertTrue(HistoryLimits.keeps(longest))
        XCTAssertFalse(HistoryLimits.keeps(longest + " "))
        let entries = Array(repeating: longest, count: 1000) + ["let found = 41"]
        try ("_HiStOrY_V2_\n" + entries.map { $0.replacingOccurrences(of: " ", with: "\\040") }.joined(separator: "\n") + "\n")
            .write(toFile: history, atomically: true, encoding: .utf8)
        try start()
        try send("C-r")
        try send("q", "z", "x")  // no entry matches: every keystroke searches the whole history
        try waitFor("qzx")
        try send("C-g")
        try send("C-c")
        try send("C-r")
        try send("f", "o", "u", "n", "d")
        try waitFor("let found = 41")
        try send("Enter")
        try send("print(found + 1)", "Enter")
        try waitFor("\n42\n")
        try send("C-d")
        try eventually("Ctrl-D to leave the REPL") { try sessionEnded() }
    }
}
