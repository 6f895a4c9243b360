import Foundation
import XCTest
@testable import LLMOptCore

/// A sliding-window layer keeps a bounded KV cache (about two windows plus a batch of rows) and
/// still scores every position as full masked attention does: tiny-mistral (window 24) over 700
/// positions, fed as a long prefill then token by token, against the training graph's forward
/// pass (one row, the window as a mask over all 700 positions).
final class SlidingWindowCacheTests: XCTestCase {
    func testBoundedCacheScoresAsTheFullMask() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-mistral"))
        let w = try XCTUnwrap(model.config.slidingWindow)
        struct Ids: Decodable { let ids: [Int] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/architectures/logits_tiny-mistral_gpl3head.json")))
        let golden = try JSONDecoder().decode(Ids.self, from: data).ids
        let T = 700
        let ids = (0..<T).map { golden[$0 % golden.count] }

        let graph = try TrainingGraph(model: model)
        var reference = [Float](repeating: 0, count: T)
        _ = try graph.run(ids: ids, batch: 1, seq: T, backward: false, nll: &reference)

        let session = try InferenceSession(model: model, capacity: T)
        let c = model.config, rowBytes = 2 * c.numKVHeads * c.headDim * 4
        XCTAssertEqual(session.kvCacheBytes, c.numLayers * (2 * w + 256) * rowBytes, "rows held per layer")
        XCTAssertLessThan(session.kvCacheBytes, c.numLayers * T * rowBytes)
        var logits = try session.forward(Array(ids[0..<300]), logits: .all)
        for t in 300..<T { logits += try session.forward([ids[t]], logits: .all) }
        let vocab = session.vocabSize
        var worst = 0.0
        for t in 0..<(T - 1) {
            let r = logits[(t * vocab)..<((t + 1) * vocab)]
            let m = Double(r.max()!)
            let lse = m + log(r.reduce(0.0) { $0 + exp(Double($1) - m) })
            worst = max(worst, abs(lse - Double(r[r.startIndex + ids[t + 1]]) - Double(reference[t])))
        }
        XCTAssertLessThan(worst, 1e-4, "largest per-position loss difference over \(T) positions")

        // Starting again from position 0 forgets the moved rows.
        session.reset()
        let again = try session.forward(Array(ids[0..<40]), logits: .all)
        XCTAssertEqual(again, Array(logits[0..<(40 * vocab)]))
    }
}
