import LLMOptScript
import XCTest

/// Every built-in documents itself: a summary, arguments with defaults, and an example that
/// is valid code.
final class HelpTests: XCTestCase {
    func testEveryBuiltinHasHelpWithAValidExample() throws {
        for topic in Help.topics {
            XCTAssertNotNil(Help.text(for: topic), topic)
        }
        var output: [String] = []
        let sink = StreamOutput { output.append($0) }
        for name in ["perplexity", "kld", "bench", "compare", "generate", "load", "save", "stats", "plot", "tokenize", "help"] {
            output = []
            XCTAssertEqual(ScriptRunner.run(code: "help(\(name))", output: sink) { XCTFail($0) }, 0)
            let text = output.joined(separator: "\n")
            XCTAssertTrue(text.hasPrefix(name + "("), text)
            XCTAssertTrue(text.contains("\nexample:\n"), name)
            let example = text.components(separatedBy: "\nexample:\n")[1]
            XCTAssertNoThrow(try Interpreter.parse(SourceFile(name: name, text: example)), "\(name)'s example does not parse:\n\(example)")
        }
        output = []
        XCTAssertEqual(ScriptRunner.run(code: "help(perplexity)", output: sink) { XCTFail($0) }, 0)
        let text = output.joined(separator: "\n")
        XCTAssertTrue(text.contains("math:\n"))
        XCTAssertTrue(text.contains("  ctx = 256 "), text)
        XCTAssertTrue(text.contains("ppl = exp(NLL)"), text)
    }

    func testUnknownTopicSuggests() {
        var errors: [String] = []
        XCTAssertEqual(ScriptRunner.run(code: "help(\"perplexty\")", output: StreamOutput { _ in }) { errors.append($0) }, 70)
        XCTAssertTrue(errors.first?.contains("help: no topic 'perplexty'; did you mean 'perplexity'?") == true, "\(errors)")
    }
}
