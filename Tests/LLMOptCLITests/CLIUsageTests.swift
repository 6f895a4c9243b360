import Foundation
import XCTest

/// A usage error (a bad option value, an unknown subcommand) exits with 64 (EX_USAGE), as the
/// README says; an error in the model or the data exits with 1.
final class CLIUsageTests: XCTestCase {
    func testUsageErrorsExitWith64() throws {
        let cases: [[String]] = [
            ["generate", "Tests/Fixtures/models/tiny-llama", "--top-p", "2"],
            ["bench", "--random", "gpt2-small", "--prompt-tokens", "x"],
            ["perplexity", "Tests/Fixtures/models/tiny-llama"],
            ["inspect"],
            ["-e"],
        ]
        for arguments in cases {
            let r = try Binary.run(arguments)
            XCTAssertEqual(r.status, 64, "\(arguments): \(r.stderr)")
            XCTAssertFalse(r.stderr.isEmpty, "\(arguments)")
        }
        let bad = try Binary.run(["inspect", "Tests/Fixtures/text/tricky.txt"])
        XCTAssertEqual(bad.status, 1, bad.stderr)
    }

    /// Names from files and scripts reach the terminal with control characters escaped: an ESC
    /// sequence or a right-to-left override in a path cannot recolour or reorder it (a NUL cannot
    /// pass through argv; HostileScriptTests and the engine use the same escaping).
    func testControlCharactersInErrorsAreEscaped() throws {
        let r = try Binary.run(["-e", "load(\"/nonexistent/\u{1B}[31mred\u{202E}x\")"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(r.stderr.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" || $0 == "\u{0}" }, r.stderr)
        XCTAssertTrue(r.stderr.contains("\\u{1B}[31mred\\u{202E}x"), r.stderr)
    }
}
