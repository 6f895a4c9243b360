import Foundation
@testable import LLMOptREPL
import XCTest

/// Where history goes and what it keeps (issue 15).
final class REPLHistoryTests: XCTestCase {
    func testHistoryPathPrefersLLMOPT_HISTORYThenHOME() {
        XCTAssertEqual(REPL.historyPath(environment: ["LLMOPT_HISTORY": "/x/h", "HOME": "/home/u"]), "/x/h")
        XCTAssertEqual(REPL.historyPath(environment: ["LLMOPT_HISTORY": "", "HOME": "/sandbox"]), "/sandbox/.llmopt_history")
        XCTAssertEqual(REPL.historyPath(environment: ["HOME": "/sandbox"]), "/sandbox/.llmopt_history")
    }

    func testOverlongEntriesAreNotKeptAndAreCleanedFromTheFile() throws {
        XCTAssertTrue(HistoryLimits.keeps(String(repeating: "a", count: HistoryLimits.entryCharacters)))
        XCTAssertFalse(HistoryLimits.keeps(String(repeating: "a", count: HistoryLimits.entryCharacters + 1)))
        let path = NSTemporaryDirectory() + "llmopt-history-clean-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let long = String(repeating: "y", count: 300_000)
        try "_HiStOrY_V2_\nfirst\n\(long)\nlast\n".write(toFile: path, atomically: true, encoding: .utf8)
        HistoryLimits.clean(file: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "_HiStOrY_V2_\nfirst\nlast\n")
        // A clean file is left as it is.
        let before = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        HistoryLimits.clean(file: path)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date, before)
    }
}
