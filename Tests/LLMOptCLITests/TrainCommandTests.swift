import Foundation
import XCTest
import LLMOptTestSupport

/// `llmopt train` through the real binary: per-step losses against PyTorch on runs the shared
/// reference data does not cover (Tests/Fixtures/training/pytorch_losses.json, made by
/// Scripts/fixtures/make-training-losses.py), accumulation, Ctrl-C + resume bit for bit, errors.
final class TrainCommandTests: XCTestCase {
    func json(_ r: Binary.Result, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], file: file, line: line)
    }

    func log(_ object: [String: Any]) -> [[String: Any]] { object["log"] as? [[String: Any]] ?? [] }

    func testReproducesPyTorchPerStepLosses() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Binary.packageRoot + "/Tests/Fixtures/training/pytorch_losses.json"))
        let fixture = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let runs = try XCTUnwrap(fixture["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 2)
        for run in runs {
            let name = run["name"] as! String
            let model = try SharedFiles.testdata(run["model"] as! String)
            let r = try Binary.run(["train", model, run["text"] as! String] + (run["args"] as! [String]) + ["--json"])
            let object = try json(r)
            let ours = log(object), ref = run["log"] as! [[String: Any]]
            XCTAssertEqual(ours.count, ref.count, name)
            for (a, b) in zip(ours, ref) {
                let step = b["step"] as! Int
                XCTAssertEqual(a["step"] as? Int, step)
                XCTAssertEqual(a["lr"] as! Double, b["lr"] as! Double, accuracy: 1e-12, "\(name) lr \(step)")
                XCTAssertEqual(a["loss"] as! Double, b["loss"] as! Double, accuracy: 1e-5, "\(name) loss \(step)")
                let norm = b["grad_norm"] as! Double
                XCTAssertEqual(a["grad_norm"] as! Double, norm, accuracy: 1e-5 * norm, "\(name) grad norm \(step)")
                XCTAssertGreaterThan(a["tokens_per_s"] as! Double, 0)
            }
            XCTAssertGreaterThan(object["tokens_per_s"] as! Double, 0)
            XCTAssertGreaterThan(object["peak_rss_bytes"] as! Int, 1_000_000)
        }
    }

    func testAccumulationGivesTheBigBatchLossesAndOutLoads() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let dir = NSTemporaryDirectory() + "llmopt-train-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["train", model, "Tests/Fixtures/text/eval_gpl3.txt", "--steps", "5", "--batch", "2", "--seq", "32", "--lr", "2e-3", "--json"]
        let bigRun = try json(try Binary.run(common)), big = log(bigRun)
        let acc = log(try json(try Binary.run(common + ["--accumulate", "2", "--out", dir + "/trained"])))
        XCTAssertEqual(big.count, 5)
        for (a, b) in zip(big, acc) { XCTAssertEqual(a["loss"] as! Double, b["loss"] as! Double, accuracy: 1e-6) }
        // Activation checkpointing: the same losses and gradient norms bit for bit, less held.
        let recomputedRun = try json(try Binary.run(common + ["--recompute-activations"])), recomputed = log(recomputedRun)
        XCTAssertEqual(recomputedRun["recompute_activations"] as? Bool, true)
        for (a, b) in zip(big, recomputed) {
            XCTAssertEqual(a["loss"] as! Double, b["loss"] as! Double)
            XCTAssertEqual(a["grad_norm"] as! Double, b["grad_norm"] as! Double)
        }
        XCTAssertLessThan(recomputedRun["activation_bytes"] as! Int, bigRun["activation_bytes"] as! Int)
        // --out is a model `perplexity` (and `load`) reads.
        let ppl = try json(try Binary.run(["perplexity", dir + "/trained", "Tests/Fixtures/text/eval_gpl3.txt", "--ctx", "32", "--max-tokens", "320", "--json"]))
        XCTAssertLessThan(ppl["mean_nll"] as! Double, 6.4)
    }

    /// Ctrl-C stops at a step boundary, writes the checkpoint and --out; resuming gives the
    /// losses of an uninterrupted run bit for bit.
    func testInterruptThenResumeIsBitIdentical() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let dir = NSTemporaryDirectory() + "llmopt-train-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["train", model, "Tests/Fixtures/text/eval_gpl3.txt", "--batch", "2", "--seq", "16", "--lr", "1e-3", "--schedule", "constant",
                      "--order", "shuffled", "--seed", "9", "--accumulate", "2", "--json"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = common + ["--steps", "1000000", "--checkpoint", dir + "/ckpt", "--every", "1000000", "--out", dir + "/partial"]
        process.currentDirectoryURL = URL(fileURLWithPath: Binary.packageRoot)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        process.interrupt()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, stderr)
        XCTAssertTrue(stderr.contains("interrupted: stopped after step"), stderr)
        let partial = try XCTUnwrap(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
        let done = partial["steps"] as! Int
        XCTAssertGreaterThan(done, 0)
        XCTAssertEqual(partial["interrupted"] as? Bool, true)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/partial/model.safetensors"))

        let total = String(done + 3)
        let resumed = log(try json(try Binary.run(common + ["--steps", total, "--resume", dir + "/ckpt"])))
        let straight = log(try json(try Binary.run(common + ["--steps", total])))
        XCTAssertEqual(resumed.count, done + 3)
        XCTAssertEqual(resumed.map { $0["loss"] as! Double }, straight.map { $0["loss"] as! Double })
        XCTAssertEqual(resumed.map { $0["grad_norm"] as! Double }, straight.map { $0["grad_norm"] as! Double })
    }

    func testBadArgumentsAndCheckpointsGiveOneErrorLine() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let base = ["train", model, "Tests/Fixtures/text/tricky.txt", "--steps", "1", "--batch", "2", "--seq", "16"]
        let opt = try Binary.run(base + ["--optimizer", "adam"])
        XCTAssertEqual(opt.status, 1)
        XCTAssertTrue(opt.stderr.hasPrefix("llmopt: error: argument 'optimizer': 'adam' is not one of adamw, sgd"), opt.stderr)
        let acc = try Binary.run(base + ["--accumulate", "3"])
        XCTAssertTrue(acc.stderr.contains("argument 'accumulate'"), acc.stderr)
        let short = try Binary.run(base + ["--batch", "64", "--seq", "64"])
        XCTAssertTrue(short.stderr.contains("argument 'text'"), short.stderr)
        let dir = NSTemporaryDirectory() + "llmopt-badckpt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("{\"format\": \"llmopt-training-checkpoint\"}".utf8).write(to: URL(fileURLWithPath: dir + "/trainer.json"))
        let bad = try Binary.run(base + ["--resume", dir])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains(dir + "/trainer.json") && bad.stderr.contains("missing field"), bad.stderr)
        XCTAssertEqual(bad.stdout, "")
    }
}
