import Foundation
import XCTest
import LLMOptTestSupport

/// Every script in Examples/ runs through the real executable, exits 0, and prints its
/// headline results (not only a status: the rows of its tables and its conclusions).
final class ExampleScriptTests: XCTestCase {
    /// What each example must print. A new example without an entry fails `testEveryExampleIsCovered`.
    static let expectations: [String: [String]] = [
        "tour.llmopt": ["model llama (gguf, Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf)", "ctx 256, stride 256, 1144 tokens, 5 windows, 1139 scored",
                        "plot SmolLM2-135M on Hamlet", "ctx 16: ppl ", "ctx 256: ppl ", "bench: prefill "],
        "quickstart.llmopt": [
            "model llama (gguf, Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf)",
            "tensor model.layers.0.self_attn.q_proj.weight",
            "ctx 256, stride 256, 1762 tokens, 7 windows, 1755 scored",
            "To be, or not to be,", "The capital of France is Paris.",
            "compare\n", "  float32  ", "  Wanda 30%  ", "  Q8_0  ", "  int4 g32  ", "decode tok/s",
        ],
        "pruning.llmopt": [
            "  dense  ", "  magnitude 50%  ", "  Wanda 50%  ", "  SparseGPT 50%  ", "  magnitude 2:4  ", "  Wanda 2:4  ",
            "  SparseGPT 2:4  ", "  heads 25% (33%)  ", "  channels 25%  ", "  magnitude 30%  ", "decode tok/s",
            "magnitude 30%:  ppl ", "plot SmolLM2-135M on Hamlet: magnitude vs Wanda",
        ],
        "quantization.llmopt": [
            "  float32  ", "  float16  ", "  int8 RTN g128  ", "  int4 RTN g128  ", "  int4 GPTQ g128  ", "  int4 AWQ g128  ",
            "  Q8_0  ", "  Q4_0  ", "KLD", "top-1", "int4 g128, RTN -> GPTQ: ppl ", "x smaller, decode ",
        ],
        "training.llmopt": [
            "before: held-out ppl ", "trained 16 steps: loss ", "plot training loss", "after:  held-out ppl ",
            "held-out loss at steps 8 and 16:", "held-out perplexity improved by ",
        ],
        "autoquant.llmopt": [
            "210 tensors × 2 formats scanned", "most sensitive:", "q8_0 everywhere", "q4_0 everywhere", "plan: ",
            "  autoquant  ", "% smaller than Q8_0 everywhere, the only uniform format that meets the budget: true false",
        ],
        "distributed.llmopt": [
            "rank 0 of 1", "before: 7 windows over 1 ranks: ppl ", "trained 4 steps: loss ", "after:  ppl ",
        ],
        "qat.llmopt": [
            "  dense float32  ", "  int4 RTN g128  ", "  int4 GPTQ g128  ", "  fine-tune, then RTN  ", "  int4 QAT g128  ",
            "quantization-aware: converted to int4", "claim 'QAT is about 10% better than PTQ': measured ",
        ],
        "distillation.llmopt": [
            "  teacher (30 blocks)  ", "  student, untrained (15)  ", "  student, labels only  ", "  student, distilled  ",
            "distilled at T 2, alpha 0.5", "half-depth student ppl: untrained ", "claim 'a student at 20% of the parameters",
        ],
        "gradual-pruning.llmopt": [
            "  magnitude 50%, one-shot  ", "  one-shot, then trained  ", "  gradual 50% (cubic)  ", "sparsity after each pruning step:",
            "plot cubic schedule", "sparsity of the linear layers of the saved model: 0.5", "claim 'dynamic pruning during training",
        ],
        "mixed-precision.llmopt": [
            "fp32 | ", "fp32, recomputed | ", "bf16 autocast | ", "fp16 + loss scaling | ", "fp32, 4 micro-batches | ", "bf16 vs fp32: loss at step 1 differs by",
            "fp16 vs fp32: loss at step 1 differs by", "accumulation: largest loss difference to the big batch",
            "recomputed activations: largest loss difference 0 ;",
            "claim 'mixed precision shortens training", "claim 'accumulation gives large batches without extra memory'",
        ],
    ]

    func testEveryExampleIsCovered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Binary.packageRoot + "/Examples").filter { $0.hasSuffix(".llmopt") }
        XCTAssertEqual(Set(files), Set(Self.expectations.keys), "every Examples/*.llmopt needs an entry in ExampleScriptTests.expectations")
    }

    func testTour() throws { try runExample("tour.llmopt") }
    func testQuickstart() throws { try runExample("quickstart.llmopt") }
    func testPruningLesson() throws { try runExample("pruning.llmopt") }
    func testQuantizationLesson() throws { try runExample("quantization.llmopt") }
    func testTrainingLesson() throws { try runExample("training.llmopt") }
    func testMixedPrecisionLesson() throws { try runExample("mixed-precision.llmopt") }
    func testAutoQuantLesson() throws { try runExample("autoquant.llmopt") }
    func testDistributedLesson() throws { try runExample("distributed.llmopt") }
    func testQATLesson() throws { try runExample("qat.llmopt") }
    func testDistillationLesson() throws { try runExample("distillation.llmopt") }
    func testGradualPruningLesson() throws { try runExample("gradual-pruning.llmopt") }

    private func runExample(_ file: String) throws {
        // Every example runs on what Scripts/fetch-models brings from PyPI.
        _ = try SharedFiles.smolLM2()
        _ = try SharedFiles.fetchedText("hamlet.txt")
        _ = try SharedFiles.fetchedText("macbeth.txt")
        let r = try Binary.run(["run", "Examples/" + file])
        XCTAssertEqual(r.status, 0, "\(file): \(r.stderr)")
        for expected in Self.expectations[file] ?? [] {
            XCTAssertTrue(r.stdout.contains(expected), "\(file) should print \(expected.debugDescription):\n\(r.stdout)")
        }
    }
}
