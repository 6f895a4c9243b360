import Foundation
import XCTest
import LLMOptCore
import LLMOptTestSupport

/// `llmopt train` with --qat, --teacher and --prune through the real binary: what --out holds,
/// and the errors for arguments that cannot work.
final class CompressionTrainCommandTests: XCTestCase {
    let text = "Tests/Fixtures/text/eval_gpl3.txt"

    func json(_ r: Binary.Result, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], file: file, line: line)
    }

    func temporaryFolder() -> String { NSTemporaryDirectory() + "llmopt-compress-\(UUID().uuidString)" }

    /// --qat: the first loss is testdata case 5's; --out holds the model `quantize` makes from the
    /// trained weights (llama.cpp's Q4_0 blocks in a GGUF file, as `quantize` would export them).
    func testQATWritesTheQuantizedModel() throws {
        let model = try SharedFiles.testdata("models/tiny-llama"), dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let object = try json(try Binary.run(["train", model, text, "--steps", "1", "--batch", "2", "--seq", "32", "--qat", "int4", "--group", "32", "--json"]))
        let log = try XCTUnwrap(object["log"] as? [[String: Any]])
        XCTAssertEqual(log[0]["loss"] as! Double, 6.293806076049805, accuracy: 1e-5)
        XCTAssertTrue((object["compression"] as? [String])?.first?.hasPrefix("quantization-aware: converted to int4, 14 matrices") == true, "\(object)")
        let r = try Binary.run(["train", model, text, "--steps", "2", "--batch", "2", "--seq", "32", "--qat", "q4_0", "--out", dir + "/q.gguf"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let saved = try ModelLoader.load(path: dir + "/q.gguf")
        XCTAssertEqual(try saved.weight("model.layers.0.mlp.up_proj.weight").dtype, .q4_0)
        XCTAssertEqual(try saved.weight("model.layers.0.mlp.down_proj.weight").dtype, .f16, "172 columns: no whole Q4_0 blocks, float16 as quantize does")
        XCTAssertEqual(try saved.weight("lm_head.weight").dtype, .f32)
        // --qat-learn-scales: the same first loss (the scales start at quantize's), int4 packed tensors out.
        let lsq = try json(try Binary.run(["train", model, text, "--steps", "2", "--batch", "2", "--seq", "32", "--qat", "int4", "--group", "32",
                                           "--qat-learn-scales", "--out", dir + "/lsq.gguf", "--json"]))
        XCTAssertEqual((lsq["log"] as! [[String: Any]])[0]["loss"] as! Double, 6.293806076049805, accuracy: 1e-5)
        XCTAssertTrue((lsq["compression"] as? [String])?.first?.hasPrefix("quantization-aware: converted to int4 lsq, 14 matrices") == true, "\(lsq)")
        // GGUF has no int-N group type: the file holds the dequantized values, at most 15 levels (codes −7...7) per group of 32.
        let up = try ModelLoader.load(path: dir + "/lsq.gguf").weight("model.layers.0.mlp.up_proj.weight").floats()
        XCTAssertEqual(stride(from: 0, to: up.count, by: 32).map { Set(up[$0..<($0 + 32)]).count }.max(), 15)
        let asymmetric = try Binary.run(["train", model, text, "--steps", "1", "--qat", "int4", "--symmetric", "false", "--qat-learn-scales"])
        XCTAssertEqual(asymmetric.status, 1)
        XCTAssertTrue(asymmetric.stderr.contains("argument 'qat-learn-scales': learned scales (LSQ) need a symmetric integer grid"), asymmetric.stderr)
        let bad = try Binary.run(["train", model, text, "--steps", "1", "--qat", "awq"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("argument 'scheme': 'awq' cannot be trained through"), bad.stderr)
    }

    /// --prune: --out's linear matrices are exactly half zeros; the embeddings and head are untouched.
    func testGradualPruningWritesExactSparsity() throws {
        let model = try SharedFiles.testdata("models/tiny-llama"), dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let object = try json(try Binary.run(["train", model, text, "--steps", "4", "--batch", "2", "--seq", "32", "--prune", "magnitude",
                                              "--sparsity", "0.5", "--prune-end", "2", "--prune-every", "1", "--out", dir + "/p", "--json"]))
        XCTAssertEqual(object["sparsity"] as! Double, 0.5)
        let saved = try ModelLoader.load(path: dir + "/p")
        var matrices = 0
        for name in saved.weightOrder where name.contains("layers.") && name.hasSuffix("proj.weight") {
            let t = try saved.weight(name)
            XCTAssertEqual(t.floats().filter { $0 == 0 }.count * 2, t.count, name)
            matrices += 1
        }
        XCTAssertEqual(matrices, 14)
        XCTAssertEqual(try saved.weight("lm_head.weight").floats().filter { $0 == 0 }.count, 0)
        let bad = try Binary.run(["train", model, text, "--steps", "4", "--prune", "magnitude", "--prune-end", "9"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("argument 'prune-end': must lie between --prune-start (0) and the last step (4), got 9"), bad.stderr)
    }

    /// --teacher: the first loss is testdata case 4's; a teacher of another vocabulary is refused by name.
    func testDistillationLossAndVocabularyCheck() throws {
        let teacher = try SharedFiles.testdata("models/tiny-llama"), student = try SharedFiles.testdata("training/student-llama-1layer")
        let object = try json(try Binary.run(["train", student, text, "--steps", "1", "--batch", "2", "--seq", "32", "--teacher", teacher,
                                              "--temperature", "2", "--alpha", "0.5", "--json"]))
        let log = try XCTUnwrap(object["log"] as? [[String: Any]])
        XCTAssertEqual(log[0]["loss"] as! Double, 3.096160888671875, accuracy: 1e-5)
        let bad = try Binary.run(["train", student, text, "--steps", "1", "--teacher", try SharedFiles.testdata("models/tiny-gpt2")])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("the teacher scores 50257 tokens and the student 512"), bad.stderr)
        let reverseTopK = try Binary.run(["train", student, text, "--steps", "1", "--teacher", teacher, "--kd-loss", "reverse", "--top-k", "8"])
        XCTAssertEqual(reverseTopK.status, 1)
        XCTAssertTrue(reverseTopK.stderr.contains("argument 'top-k': needs the forward divergence"), reverseTopK.stderr)
    }
}
