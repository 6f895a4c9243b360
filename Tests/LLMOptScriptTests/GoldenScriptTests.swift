import Foundation
import LLMOptScript
import XCTest

/// Runs every `Scripts/*.llmopt` and compares its output with the `# expect: ...` comments
/// in it, in order, and its errors with the `# expect error: ...` comments (each expected on
/// the line the comment sits on). Scripts run from the package root, so they name fixtures
/// as `Tests/Fixtures/...`.
final class GoldenScriptTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let scriptsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts").path

    func testGoldenScripts() throws {
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(Self.packageRoot))
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.scriptsFolder).filter { $0.hasSuffix(".llmopt") }.sorted()
        XCTAssertGreaterThan(names.count, 5)
        for name in names {
            try check(script: Self.scriptsFolder + "/" + name)
        }
    }

    private func check(script path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var expectedOutput: [String] = []
        var expectedErrors: [String] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let r = line.range(of: "# expect: ") {
                expectedOutput.append(String(line[r.upperBound...]))
            } else if line.hasSuffix("# expect:") {
                expectedOutput.append("")
            } else if let r = line.range(of: "# expect error: ") {
                expectedErrors.append("line \(i + 1): \(line[r.upperBound...])")
            }
        }
        var output: [String] = []
        let sink = StreamOutput { output += $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        var errors: [String] = []
        let relative = "Tests/LLMOptScriptTests/Scripts/" + (path as NSString).lastPathComponent
        let status = ScriptRunner.run(file: relative, output: sink) { errors.append($0) }
        // Each rendered diagnostic starts with "file:line:col: error: message".
        let actualErrors = errors.compactMap { e -> String? in
            let first = e.split(separator: "\n").first.map(String.init) ?? e
            let pieces = first.components(separatedBy: ": error: ")
            guard pieces.count >= 2 else { return nil }
            let place = pieces[0].split(separator: ":")
            guard place.count >= 3 else { return nil }
            return "line \(place[place.count - 2]): \(pieces.dropFirst().joined(separator: ": error: "))"
        }
        let name = (path as NSString).lastPathComponent
        XCTAssertEqual(output, expectedOutput, "\(name): output differs\n--- expected\n\(expectedOutput.joined(separator: "\n"))\n--- actual\n\(output.joined(separator: "\n"))")
        XCTAssertEqual(actualErrors, expectedErrors, "\(name): errors differ; stderr:\n\(errors.joined(separator: "\n"))")
        XCTAssertEqual(status == ExitStatus.success, expectedErrors.isEmpty, "\(name): exit status \(status)")
    }
}
