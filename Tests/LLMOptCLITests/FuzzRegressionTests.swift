import Foundation
import XCTest

/// Replays every input the fuzzer found a crash with (Tests/Fuzz/*/) through the built
/// `llmopt-fuzz --replay`: each must now load or fail with an error, never crash.
final class FuzzRegressionTests: XCTestCase {
    func testEveryKeptFuzzInputRunsWithoutCrashing() throws {
        let folder = Binary.packageRoot + "/Tests/Fuzz"
        let fuzz = URL(fileURLWithPath: Binary.path).deletingLastPathComponent().appendingPathComponent("llmopt-fuzz").path
        guard FileManager.default.isExecutableFile(atPath: fuzz) else {
            throw XCTSkip("llmopt-fuzz is not built (swift build --build-tests builds it)")
        }
        let cases = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
            FileManager.default.fileExists(atPath: folder + "/" + $0 + "/target")
        }.sorted()
        XCTAssertFalse(cases.isEmpty)
        for name in cases {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: fuzz)
            process.arguments = ["--replay", folder + "/" + name]
            process.currentDirectoryURL = URL(fileURLWithPath: Binary.packageRoot)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .exit, "\(name) crashed (signal \(process.terminationStatus))")
            XCTAssertEqual(process.terminationStatus, 0, name)
        }
    }
}
