import Foundation
import LLMOptCore
import XCTest

/// Options of the engine subcommands that had no test: each output is compared with what the
/// engine computes in-process for the same request.
final class EngineOptionTests: XCTestCase {
    let model = "Tests/Fixtures/models/tiny-llama"
    let text = "Tests/Fixtures/text/eval_gpl3.txt"

    func json(_ arguments: [String]) throws -> [String: Any] {
        let r = try Binary.run(arguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    func testPerplexityMaxTokensScoresOnlyThePrefix() throws {
        let out = try json(["perplexity", model, text, "--ctx", "64", "--max-tokens", "200", "--json"])
        XCTAssertEqual(out["n_tokens"] as? Int, 200)
        XCTAssertEqual(out["n_scored"] as? Int, 196)
        let m = try ModelLoader.load(path: Binary.packageRoot + "/" + model)
        let content = try String(contentsOfFile: Binary.packageRoot + "/" + text, encoding: .utf8)
        let want = try Perplexity.evaluate(model: m, text: content, ctx: 64, maxTokens: 200)
        XCTAssertEqual(try XCTUnwrap(out["ppl"] as? Double), want.ppl, accuracy: want.ppl * 1e-9)
        let all = try json(["perplexity", model, text, "--ctx", "64", "--json"])
        XCTAssertGreaterThan(try XCTUnwrap(all["n_tokens"] as? Int), 200)
    }

    func testInspectListNamesEveryTensorWithItsShapeAndBytes() throws {
        let out = try json(["inspect", model, "--list", "--json"])
        let tensors = try XCTUnwrap(out["tensors"] as? [[String: Any]])
        let m = try ModelLoader.load(path: Binary.packageRoot + "/" + model)
        XCTAssertEqual(Set(tensors.compactMap { $0["name"] as? String }), Set(m.weightOrder))
        for t in tensors {
            let name = try XCTUnwrap(t["name"] as? String)
            let w = try m.weight(name)
            XCTAssertEqual(t["shape"] as? [Int], w.shape, name)
            XCTAssertEqual(t["bytes"] as? Int, w.byteCount, name)
        }
    }
}
