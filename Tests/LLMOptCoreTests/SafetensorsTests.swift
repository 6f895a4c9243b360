import XCTest
import LLMOptCore

final class SafetensorsTests: XCTestCase {
    func testLoadsTinyLlamaFolder() throws {
        let m = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        XCTAssertEqual(m.config.architecture, .llama)
        XCTAssertEqual(m.config.numKVHeads, 2)
        XCTAssertEqual(try m.weight("model.layers.0.mlp.down_proj.weight").shape, [64, 172])
    }
}
