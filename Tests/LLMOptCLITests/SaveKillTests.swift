import Foundation
import XCTest

/// `kill -9` during saves (issue 15): the built binary saves two different models over one
/// folder and one .gguf file in a loop and is killed at random moments. Each time, the folder
/// and the file hold exactly one of the two complete results, and the next save removes the
/// temporaries the killed one left. LLMOPT_SAVE_KILLS=100 runs the long version by hand.
final class SaveKillTests: XCTestCase {
    func testKilledSavesLeaveTheOldOrTheNewResultNeverAMix() throws {
        let kills = Int(ProcessInfo.processInfo.environment["LLMOPT_SAVE_KILLS"] ?? "") ?? 6
        let dir = NSTemporaryDirectory() + "llmopt-save-kill-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = dir + "/out", file = dir + "/out.gguf"
        let setup = "let a = load(\"Tests/Fixtures/models/tiny-llama\")\nlet b = quantize(a, \"int8\")\n"

        // The two complete results of each destination.
        var expected: [String: [Data]] = ["config": [], "weights": [], "gguf": []]
        for model in ["a", "b"] {
            let r = try Binary.run(["-e", setup + "save(\(model), \"\(folder)\")\nsave(\(model), \"\(file)\")"])
            XCTAssertEqual(r.status, 0, r.stderr)
            expected["config"]!.append(try Data(contentsOf: URL(fileURLWithPath: folder + "/config.json")))
            expected["weights"]!.append(try Data(contentsOf: URL(fileURLWithPath: folder + "/model.safetensors")))
            expected["gguf"]!.append(try Data(contentsOf: URL(fileURLWithPath: file)))
        }
        XCTAssertNotEqual(expected["weights"]![0], expected["weights"]![1])
        XCTAssertNotEqual(expected["gguf"]![0], expected["gguf"]![1])

        let loop = setup + "for i in 0..<1000000 {\n  save(a, \"\(folder)\")\n  save(b, \"\(file)\")\n  save(b, \"\(folder)\")\n  save(a, \"\(file)\")\n}"
        var seen = Set<String>()
        for k in 0..<kills {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Binary.path)
            process.arguments = ["-e", loop]
            process.currentDirectoryURL = URL(fileURLWithPath: Binary.packageRoot)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 150_000...450_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "run \(k) ended before it was killed")

            let config = try Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))
            let weights = try Data(contentsOf: URL(fileURLWithPath: folder + "/model.safetensors"))
            let gguf = try Data(contentsOf: URL(fileURLWithPath: file))
            guard let which = expected["config"]!.firstIndex(of: config) else { return XCTFail("run \(k): config.json is neither result") }
            XCTAssertEqual(weights, expected["weights"]![which], "run \(k): model.safetensors does not belong with config.json")
            XCTAssertNotNil(expected["gguf"]!.firstIndex(of: gguf), "run \(k): out.gguf is neither result")
            seen.insert("folder \(which)")
        }
        // The next save cleans what the killed ones left.
        let r = try Binary.run(["-e", setup + "save(a, \"\(folder)\")\nsave(a, \"\(file)\")"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(left, ["out", "out.gguf"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }, [])
        if ProcessInfo.processInfo.environment["LLMOPT_SAVE_KILLS"] != nil { print("save kills: \(kills), folder states seen: \(seen.sorted())") }
    }
}
