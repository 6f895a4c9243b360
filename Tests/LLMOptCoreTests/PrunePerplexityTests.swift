import Foundation
import LLMOptCore
import XCTest

/// Perplexity of magnitude-pruned tiny models against golden/ppl_table.tsv (PyTorch's numbers
/// for the models pruned by `torch.nn.utils.prune`), to 1e-6 relative.
final class PrunePerplexityTests: XCTestCase {
    func check(_ folder: String, scope: PruneScope) throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
        let (pruned, _) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: 0.5, scope: scope))
        struct Ids: Decodable { let ids: [Int] }
        let ids = try JSONDecoder().decode(Ids.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/tokenize_\(folder)_gpl3.json")))).ids
        let table = try String(contentsOfFile: Fixtures.path("golden/ppl_table.tsv"), encoding: .utf8)
        let key = "out/\(folder)-prune50-\(scope.rawValue)"
        var checked = 0
        for line in table.split(separator: "\n") {
            let f = line.split(separator: "\t").map(String.init)
            guard f[0] == key else { continue }
            let (ctx, stride, scored, ppl) = (Int(f[1])!, Int(f[2])!, Int(f[5])!, Double(f[7])!)
            let report = try Perplexity.evaluate(model: pruned, tokens: ids, ctx: ctx, stride: stride)
            XCTAssertEqual(report.nScored, scored, "\(key) ctx \(ctx) stride \(stride)")
            XCTAssertEqual(report.ppl, ppl, accuracy: ppl * 1e-6, "\(key) ctx \(ctx) stride \(stride)")
            checked += 1
        }
        XCTAssertEqual(checked, 4, key)
    }

    func testTinyLlamaLayer() throws { try check("tiny-llama", scope: .layer) }
    func testTinyLlamaGlobal() throws { try check("tiny-llama", scope: .global) }
    func testTinyGPT2Layer() throws { try check("tiny-gpt2", scope: .layer) }
    func testTinyGPT2Global() throws { try check("tiny-gpt2", scope: .global) }
}
