import Foundation
import LLMOptCore
import XCTest
import LLMOptTestSupport

/// Pruning a real model: SmolLM2-135M (30 blocks, 210 linear weights up to 1536 x 576, Q4_1).
/// These tests check outcomes; the time each method takes is measured by Scripts/bench-pruning.
final class PruneSmolLM2Tests: XCTestCase {
    /// Loaded once for the class: every test reads the same memory-mapped weights.
    private static var loaded: Model?

    func smolLM2() throws -> Model {
        if let model = Self.loaded { return model }
        let path = try SharedFiles.smolLM2()
        let model = try ModelLoader.load(path: path)
        Self.loaded = model
        return model
    }

    func text() throws -> String {
        try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
    }

    func runs(_ model: Model) throws {
        let logits = try InferenceSession(model: model, capacity: 8).forward([1, 504, 3485, 314, 253, 1345])
        XCTAssertTrue(logits.allSatisfy(\.isFinite))
    }

    func testMagnitudeNMAndStructured() throws {
        let model = try smolLM2()
        for (method, options) in [("magnitude", PruneOptions(sparsity: 0.5, scope: .global)),
                                  ("magnitude", PruneOptions(sparsity: 0.5)),
                                  ("magnitude", PruneOptions(pattern: try NMPattern("2:4"))),
                                  ("channels", PruneOptions(sparsity: 0.25)),
                                  ("heads", PruneOptions(sparsity: 1.0 / 3)),
                                  ("layers", PruneOptions(sparsity: 0.2))] {
            let (pruned, report) = try Pruning.prune(model, method: method, options: options)
            if method == "magnitude" {
                XCTAssertEqual(report.rows.count, 210)
                XCTAssertEqual(report.overallSparsity, 0.5, accuracy: 1e-4)
            } else {
                // Structured pruning keeps the Q4_1 storage: fewer parameters, fewer bytes.
                XCTAssertLessThan(report.modelParametersAfter, report.modelParametersBefore, method)
                XCTAssertLessThan(report.modelBytesAfter, report.modelBytesBefore, method)
            }
            try runs(pruned)
        }
    }

    /// ‖X Wᵀ − X W'ᵀ‖² / ‖X Wᵀ‖² for each of `names`, with X the dense model's inputs to the
    /// layer on the calibration windows.
    func outputErrors(_ dense: Model, _ pruned: Model, names: [String], windows: [[Int]]) throws -> [String: Double] {
        let wanted = Set(names)
        let errors = try LinearOutputError.relative(dense, pruned, windows: windows) { wanted.contains($0) }
        XCTAssertEqual(Set(errors.keys), wanted)
        return errors
    }

    /// Wanda and SparseGPT on real weights, blocks 0, 1 and 29 (SparseGPT carries the
    /// calibration windows through the pruned blocks 0 and 1 and the dense blocks up to 29), with
    /// four 128-token windows of real text: every matrix reaches the requested sparsity, the
    /// layers' outputs on the calibration data stay closer to the dense ones than magnitude
    /// pruning leaves them, and the model still runs.
    func testWandaAndSparseGPTBeatMagnitude() throws {
        let model = try smolLM2()
        let calibration = try Calibration(text: try text(), samples: 4, length: 128, seed: 0)
        let selection = try TensorSelection(targets: [#"^model\.layers\.(0|1|29)\..*_proj\.weight$"#])
        let options = PruneOptions(sparsity: 0.5, selection: selection, calibration: calibration)
        var errors: [String: [String: Double]] = [:]
        for method in ["magnitude", "wanda", "sparsegpt"] {
            let (pruned, report) = try Pruning.prune(model, method: method, options: options)
            XCTAssertEqual(report.rows.count, 21, method)
            for row in report.rows { XCTAssertEqual(row.sparsity, 0.5, accuracy: 1e-3, "\(method) \(row.name)") }
            try runs(pruned)
            errors[method] = try outputErrors(model, pruned, names: report.rows.map(\.name),
                                              windows: try calibration.windows(tokenizer: model.tokenizer))
        }
        let magnitude = errors["magnitude"]!, wanda = errors["wanda"]!, sparsegpt = errors["sparsegpt"]!
        func total(_ e: [String: Double]) -> Double { e.values.reduce(0, +) }
        print("SmolLM2 blocks 0, 1, 29 relative output error: magnitude \(total(magnitude)), wanda \(total(wanda)), sparsegpt \(total(sparsegpt))")
        for (name, e) in sparsegpt { XCTAssertLessThan(e, magnitude[name]!, name) }
        XCTAssertLessThan(total(sparsegpt), total(wanda))
        XCTAssertLessThan(total(wanda), total(magnitude))
    }
}
