import Foundation
import XCTest
import LLMOptTestSupport

/// `mpirun -np 2 llmopt ...` on one machine: data-parallel training reproduces the
/// single-process (PyTorch-checked) losses, sharded perplexity equals one process's, a
/// checkpoint written by 2 ranks resumes on 1, a rank that cannot read its data stops the job
/// with one error from rank 0, a rank that dies leaves a whole checkpoint, and scripts print
/// from rank 0 only.
final class DistributedTests: XCTestCase {
    /// Open MPI's launcher; the tests skip, naming it, where it is not installed.
    func mpirun() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw XCTSkip("mpirun is not installed (Scripts/setup installs openmpi-bin)") }
        return path
    }

    /// Runs `llmopt` as `ranks` processes.
    func mpi(_ ranks: Int, _ arguments: [String]) throws -> Binary.Result {
        try mpi([(ranks, arguments)])
    }

    /// `llmoptFirst: false`: each part's arguments start with the program it runs.
    func mpi(_ parts: [(ranks: Int, arguments: [String])], llmoptFirst: Bool = true) throws -> Binary.Result {
        var args = ["--oversubscribe", "--bind-to", "none"]
        for (i, part) in parts.enumerated() {
            if i > 0 { args.append(":") }
            args += ["-np", String(part.ranks)] + (llmoptFirst ? [Binary.path] : []) + part.arguments
        }
        // As root, mpirun refuses to start without these.
        let env = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_btl": "self,vader,tcp"]
        return try Binary.run(args, environment: env, executable: try mpirun())
    }

    func json(_ r: Binary.Result, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\n\(r.stderr)",
                             file: file, line: line)
    }

    func testTwoRanksReproduceThePyTorchAdamWLosses() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Binary.packageRoot + "/Tests/Fixtures/training/pytorch_losses.json"))
        let fixture = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let runs = try XCTUnwrap(fixture["runs"] as? [[String: Any]])
        let run = try XCTUnwrap(runs.first { ($0["name"] as? String)?.contains("adamw") == true })
        let args = run["args"] as! [String]
        XCTAssertEqual(args[args.firstIndex(of: "--batch")! + 1], "2")
        let model = try SharedFiles.testdata(run["model"] as! String)
        let object = try json(try mpi(2, ["train", model, run["text"] as! String] + args + ["--json"]))
        XCTAssertEqual(object["ranks"] as? Int, 2)
        let ours = object["log"] as? [[String: Any]] ?? [], ref = run["log"] as! [[String: Any]]
        XCTAssertEqual(ours.count, ref.count)
        for (a, b) in zip(ours, ref) {
            let step = b["step"] as! Int
            XCTAssertEqual(a["step"] as? Int, step)
            XCTAssertEqual(a["loss"] as! Double, b["loss"] as! Double, accuracy: 1e-5, "loss \(step)")
            let norm = b["grad_norm"] as! Double
            XCTAssertEqual(a["grad_norm"] as! Double, norm, accuracy: 1e-5 * norm, "grad norm \(step)")
        }
        let share = try XCTUnwrap(object["communication_share"] as? Double)
        XCTAssertTrue(share > 0 && share < 1, "\(share)")
    }

    func testTwoRankPerplexityEqualsOneProcess() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let args = ["perplexity", model, "Tests/Fixtures/text/eval_gpl3.txt", "--ctx", "32", "--stride", "24", "--max-tokens", "300", "--json"]
        let one = try json(try Binary.run(args))
        let two = try json(try mpi(2, args))
        for key in ["n_tokens", "n_windows", "n_scored"] { XCTAssertEqual(two[key] as? Int, one[key] as? Int, key) }
        XCTAssertEqual(one["n_windows"] as? Int, 13)
        // The same per-token losses summed in the same order: equal to the last bit.
        XCTAssertEqual(two["mean_nll"] as? Double, one["mean_nll"] as? Double)
        XCTAssertEqual(two["ppl"] as? Double, one["ppl"] as? Double)
        XCTAssertEqual(two["nll_standard_error"] as? Double, one["nll_standard_error"] as? Double)
    }

    /// kld() in a script, sharded over 2 ranks, prints what one process prints.
    func testTwoRankKLDEqualsOneProcess() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let code = """
        let m = load("\(model)")
        let r = kld(m, quantize(m, "q4_0"), text("Tests/Fixtures/text/eval_gpl3.txt"), ctx: 32, stride: 16, max_tokens: 200)
        print(r.kld, r.kld_error, r.max_kld, r.top1, r.base_ppl, r.ppl, r.n_scored)
        """
        let one = try Binary.run(["-e", code])
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try mpi(2, ["-e", code])
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertEqual(two.stdout, one.stdout)
        XCTAssertTrue(one.stdout.hasSuffix(" 199\n"), one.stdout)
    }

    /// A checkpoint written by 2 ranks (rank 0 alone writes it) resumes on 1 rank and ends
    /// where a straight single-process run ends.
    func testCheckpointFromTwoRanksResumesOnOne() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let dir = NSTemporaryDirectory() + "llmopt-mpi-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["train", model, "Tests/Fixtures/text/eval_gpl3.txt", "--batch", "4", "--seq", "16", "--lr", "2e-3", "--schedule", "constant",
                      "--json"]
        _ = try json(try mpi(2, common + ["--steps", "3", "--checkpoint", dir + "/ckpt"]))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(leftovers, ["ckpt"], "only the checkpoint, no temporary folder")
        let resumed = try json(try Binary.run(common + ["--steps", "5", "--resume", dir + "/ckpt"]))["log"] as! [[String: Any]]
        let straight = try json(try Binary.run(common + ["--steps", "5"]))["log"] as! [[String: Any]]
        XCTAssertEqual(resumed.count, 5)
        for (a, b) in zip(resumed, straight) {
            XCTAssertEqual(a["loss"] as! Double, b["loss"] as! Double, accuracy: 1e-5, "step \(b["step"] ?? 0)")
        }
    }

    /// Rank 1 is given a text it cannot read: the job ends with one error, from rank 0, naming
    /// the rank and the file, and writes no checkpoint.
    func testARankThatCannotReadItsDataStopsTheJob() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let dir = NSTemporaryDirectory() + "llmopt-mpi-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["train", model, "--steps", "2", "--batch", "2", "--seq", "16", "--checkpoint", dir + "/ckpt"]
        let missing = dir + "/missing.txt"
        let r = try mpi([(1, base + ["Tests/Fixtures/text/tricky.txt"]), (1, base + [missing])])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stdout, "")
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("llmopt: error:") }
        XCTAssertEqual(errors.count, 1, r.stderr)
        XCTAssertTrue(errors.first?.contains("rank 1 of 2") == true && errors.first?.contains(missing) == true, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ckpt"))
    }

    /// Rank 1 is killed (SIGKILL) mid-run while rank 0 writes a checkpoint every step: mpirun
    /// ends the job naming rank 1, and the checkpoint left is whole: it resumes.
    func testARankThatDiesEndsTheJobAndLeavesAWholeCheckpoint() throws {
        let model = try SharedFiles.testdata("models/tiny-llama")
        let dir = NSTemporaryDirectory() + "llmopt-mpi-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["train", model, "Tests/Fixtures/text/eval_gpl3.txt", "--batch", "2", "--seq", "16", "--schedule", "constant"]
        let run = common + ["--steps", "1000000", "--checkpoint", dir + "/ckpt", "--every", "1"]
        let r = try mpi([(1, [Binary.path] + run), (1, ["timeout", "-s", "KILL", "5", Binary.path] + run)], llmoptFirst: false)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rank 1") && r.stderr.contains("signal 9"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/ckpt").sorted(),
                       ["optimizer.safetensors", "parameters.safetensors", "trainer.json"])
        let state = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/ckpt/trainer.json"))) as? [String: Any])
        let step = try XCTUnwrap(state["step"] as? Int)
        XCTAssertGreaterThan(step, 0)
        let resumed = try Binary.run(common + ["--steps", String(step + 1), "--resume", dir + "/ckpt", "--json"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
    }

    func testScriptsRunOnEveryRankAndPrintFromRankZero() throws {
        let r = try mpi(3, ["-e", "print(\"rank\", rank(), \"of\", ranks())"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "rank 0 of 3\n")
        let alone = try Binary.run(["-e", "print(rank(), ranks())"])
        XCTAssertEqual(alone.stdout, "0 1\n")
    }
}
