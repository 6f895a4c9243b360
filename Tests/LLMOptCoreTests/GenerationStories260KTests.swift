import Foundation
import LLMOptCore
import XCTest
import LLMOptTestSupport

/// stories260K reproduces llama2.c's run.c output byte for byte, from the .bin and the .gguf.
final class GenerationStories260KTests: XCTestCase {
    /// `shared/data/models/stories260K` (a third-party model: it never enters the repository).
    var folder: String { get throws { try SharedFiles.data("models/stories260K") } }

    func expected(_ name: String) throws -> String {
        try String(contentsOfFile: SharedFiles.data("expected/\(name)"), encoding: .utf8)
    }

    /// The llama2.c checkpoint with its tokenizer (tok512.bin, set here explicitly so the test
    /// does not depend on how the loader finds it).
    func loadBin() throws -> Model {
        let folder = try folder
        var model = try ModelLoader.load(path: folder + "/stories260K.bin", tokenizerPath: folder + "/tok512.bin")
        XCTAssertEqual(model.format, .llama2c)
        model.tokenizer = try Llama2CTokenizer(path: folder + "/tok512.bin", vocabSize: model.config.vocabSize)
        return model
    }

    /// The GGUF's weights, with q/k rows in GGUF's interleaved layout, and its own tokenizer.
    func loadGGUF() throws -> Model {
        let model = try ModelLoader.load(path: folder + "/stories260K.gguf")
        XCTAssertTrue(model.config.ropeInterleaved)
        XCTAssertNotNil(model.tokenizer, "the GGUF loader attaches the model's tokenizer")
        return model
    }

    /// run.c prints the pieces, then a newline.
    func runC(_ model: Model, prompt: String, steps: Int) throws -> String {
        var streamed: [UInt8] = []
        let result = try Generator.generate(model, prompt: prompt, steps: steps, onToken: { _, bytes in streamed += bytes })
        XCTAssertEqual(streamed, result.bytes)
        return result.text + "\n"
    }

    func testGreedy200FromBin() throws {
        let expected = try expected("stories260K_greedy_200.txt")
        XCTAssertEqual(try runC(loadBin(), prompt: "", steps: 200), expected)
    }

    func testPromptZoo60FromBin() throws {
        let expected = try expected("stories260K_prompt_Zoo_60.txt")
        XCTAssertEqual(try runC(loadBin(), prompt: "Zoo", steps: 60), expected)
    }

    func testGreedy200FromGGUF() throws {
        let expected = try expected("stories260K_greedy_200.txt")
        XCTAssertEqual(try runC(loadGGUF(), prompt: "", steps: 200), expected)
    }

    func testPromptZoo60FromGGUF() throws {
        let expected = try expected("stories260K_prompt_Zoo_60.txt")
        XCTAssertEqual(try runC(loadGGUF(), prompt: "Zoo", steps: 60), expected)
    }

    /// The llama.cpp-quantized copies run through the integer kernels and stay close to F32.
    func testQuantizedCopiesStayCloseToF32() throws {
        let base = try loadGGUF()
        let ids = Llama2CTokenizerIds.story(base)
        for name in ["F16", "Q8_0", "Q4_0"] {
            var q = try ModelLoader.load(path: SharedFiles.testdata("llamacpp/stories260K-\(name).gguf"))
            q.tokenizer = base.tokenizer
            let d = try Divergence.evaluate(base: base, other: q, tokens: ids, ctx: 128)
            XCTAssertLessThan(d.meanKLD, name == "Q4_0" ? 0.1 : 0.01, name)
            XCTAssertGreaterThan(d.top1Agreement, name == "Q4_0" ? 0.7 : 0.9, name)
        }
    }

    func testThroughputReportsPositiveRates() throws {
        let report = try Throughput.measure(model: loadBin(), promptTokens: 64, decodeTokens: 16, runs: 2)
        XCTAssertGreaterThan(report.prefillTokensPerSecond, 0)
        XCTAssertGreaterThan(report.decodeTokensPerSecond, 0)
        XCTAssertEqual(report.modelBytes, try loadBin().byteCount)
        print("stories260K throughput:", report)
    }
}

/// A short story's token ids for evaluations of stories260K.
enum Llama2CTokenizerIds {
    static func story(_ model: Model) -> [Int] {
        let text = "Once upon a time, there was a little dog named Max. Max loved to run in the park with his friend, a "
            + "small girl called Sue. One day, Sue found a big red ball under a tree. She threw the ball and Max ran fast "
            + "to get it. They played all day until the sun went down. Then they went home, happy and tired."
        return model.tokenizer!.encode(text)
    }
}
