import Foundation
import LLMOptScript
import XCTest
import LLMOptTestSupport

/// Ctrl-C in the REPL raises the interpreter's cancellation flag; `generate` and `chat` must
/// poll it while they run, not only between statements.
final class GenerationCancelTests: XCTestCase {
    /// Runs `call` with a flag that turns true at its 20th poll: statement boundaries poll a
    /// handful of times, so the 20th is deep inside the generation.
    func checkInterrupted(_ call: String, model path: String) throws {
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(GoldenScriptTests.packageRoot))
        let interpreter = Interpreter(output: StreamOutput { _ in })
        try interpreter.run(SourceFile(name: "<setup>", text: "let m = load(\"\(path)\")"))
        var polls = 0
        interpreter.isCancelled = { polls += 1; return polls >= 20 }
        XCTAssertThrowsError(try interpreter.run(SourceFile(name: "<test>", text: "let r = \(call)"))) {
            XCTAssertTrue("\($0)".contains("interrupted"), "\(call): \($0)")
        }
        XCTAssertEqual(polls, 20, call)
    }

    func testGenerateStopsWhenCancelled() throws {
        try checkInterrupted("generate(m, \"Once upon a time\", steps: 200)", model: SharedFiles.data("models/stories260K"))
    }

    func testChatStopsWhenCancelled() throws {
        try checkInterrupted("chat(m, \"Tell me a long story.\", steps: 200)", model: SharedFiles.smolLM2())
    }
}
