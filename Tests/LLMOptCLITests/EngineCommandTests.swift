import Foundation
import XCTest
import LLMOptTestSupport

/// The engine subcommands through the real binary: results on stdout (JSON with the documented
/// keys), one clean error line and exit code 1 on bad input.
final class EngineCommandTests: XCTestCase {
    func testPerplexityJSONMatchesTheReferenceTable() throws {
        let r = try Binary.run(["perplexity", "Tests/Fixtures/models/tiny-llama", "Tests/Fixtures/text/eval_gpl3.txt",
                                "--ctx", "128", "--stride", "128", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        // golden/ppl_table.tsv: models/tiny-llama 128 128 18028 141 17887 6.252844376 519.488346
        XCTAssertEqual(json["n_tokens"] as? Int, 18028)
        XCTAssertEqual(json["n_windows"] as? Int, 141)
        XCTAssertEqual(json["n_scored"] as? Int, 17887)
        XCTAssertEqual(json["ctx"] as? Int, 128)
        XCTAssertEqual(json["stride"] as? Int, 128)
        XCTAssertEqual(try XCTUnwrap(json["ppl"] as? Double), 519.488346, accuracy: 519.488346 * 1e-5)
        XCTAssertEqual(try XCTUnwrap(json["mean_nll"] as? Double), 6.252844376, accuracy: 1e-5)
    }

    func testGenerateReproducesLlama2cRun() throws {
        let expected = try String(contentsOfFile: SharedFiles.data("expected/stories260K_prompt_Zoo_60.txt"), encoding: .utf8)
        for model in [try SharedFiles.data("models/stories260K/stories260K.bin"), try SharedFiles.data("models/stories260K/stories260K.gguf")] {
            let r = try Binary.run(["generate", model, "--prompt", "Zoo", "--steps", "60"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, expected, model)
        }
    }

    func testBenchAndInspectJSON() throws {
        let bench = try Binary.run(["bench", "Tests/Fixtures/models/tiny-llama", "--prompt-tokens", "16",
                                    "--decode-tokens", "4", "--runs", "1", "--json"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let b = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(b["prefill_tok_s"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(b["decode_tok_s"] as? Double), 0)

        let inspect = try Binary.run(["inspect", "Tests/Fixtures/models/tiny-llama", "model.layers.0.self_attn.q_proj.weight", "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let t = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(t["shape"] as? [Int], [64, 64])
        XCTAssertEqual(t["dtype"] as? String, "f32")
    }

    /// `--random gpt2-small` builds GPT-2 small's shape: 124,439,808 float32 parameters (tied
    /// head counted once).
    func testBenchRandomGPT2Small() throws {
        let r = try Binary.run(["bench", "--random", "gpt2-small", "--prompt-tokens", "8", "--decode-tokens", "2",
                                "--runs", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let f32 = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(f32["model"] as? String, "random:gpt2-small")
        XCTAssertEqual(f32["bytes"] as? Int, 124_439_808 * 4)
        XCTAssertEqual(f32["prompt_tokens"] as? Int, 8)
        XCTAssertEqual(f32["decode_tokens"] as? Int, 2)
        XCTAssertGreaterThan(try XCTUnwrap(f32["prefill_tok_s"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(f32["decode_tok_s"] as? Double), 0)

        let unknown = try Binary.run(["bench", "--random", "gpt5"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("unknown shape 'gpt5'; known: gpt2-small"), unknown.stderr)
    }

    func testBadInputGivesOneErrorLine() throws {
        let missing = try Binary.run(["perplexity", "no/such/model", "Tests/Fixtures/text/eval_gpl3.txt"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("llmopt: error: no/such/model"), missing.stderr)
        XCTAssertEqual(missing.stdout, "")

        let tensor = try Binary.run(["inspect", "Tests/Fixtures/models/tiny-llama", "model.layers.0.self_attn.q_proj.weigth"])
        XCTAssertEqual(tensor.status, 1)
        XCTAssertTrue(tensor.stderr.contains("did you mean 'model.layers.0.self_attn.q_proj.weight'"), tensor.stderr)

        let usage = try Binary.run(["generate", "Tests/Fixtures/models/tiny-llama", "--top-p", "2"])
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.stderr.contains("--top-p"), usage.stderr)
    }
}
