import Foundation
import XCTest
import LLMOptCore

/// Magnitude pruning against the PyTorch (`torch.nn.utils.prune`) reference outputs.
final class PruneMagnitudeTests: XCTestCase {
    struct Golden {
        let nMatrices: Int
        let zeros: Int
        let threshold: Double?
        let perMatrix: [String: Double]

        init(_ relative: String) throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(relative)))
            let j = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            nMatrices = try XCTUnwrap(j["n_matrices"] as? Int)
            zeros = try XCTUnwrap(j["zeros"] as? Int)
            threshold = j["global_threshold_abs"] as? Double
            perMatrix = try XCTUnwrap(j["per_matrix_sparsity"] as? [String: Double])
        }
    }

    func check(model modelName: String, scope: PruneScope) throws -> (Model, Model, PruneReport) {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/\(modelName)"))
        let golden = try Golden("golden/prune_\(modelName)_0.5_\(scope.rawValue).json")
        let (pruned, report) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: 0.5, scope: scope))
        XCTAssertEqual(report.rows.count, golden.nMatrices)
        XCTAssertEqual(Set(report.rows.map(\.name)), Set(golden.perMatrix.keys))
        for row in report.rows {
            let expected = try XCTUnwrap(golden.perMatrix[row.name])
            XCTAssertEqual(row.sparsity, expected, accuracy: 5e-7, row.name)
        }
        XCTAssertEqual(report.rows.reduce(0) { $0 + $1.zerosAfter }, golden.zeros)
        if let t = golden.threshold {
            XCTAssertEqual(report.globalThreshold, Float(t))
        } else {
            XCTAssertNil(report.globalThreshold)
        }
        return (model, pruned, report)
    }

    func testTinyGPT2Layer() throws { _ = try check(model: "tiny-gpt2", scope: .layer) }
    func testTinyGPT2Global() throws { _ = try check(model: "tiny-gpt2", scope: .global) }

    func testTinyLlamaMatchesReferenceFilesExactly() throws {
        for scope in PruneScope.allCases {
            let (model, pruned, _) = try check(model: "tiny-llama", scope: scope)
            let reference = try SafetensorsFile(path: Fixtures.path("derived/tiny-llama-prune50-\(scope.rawValue)/model.safetensors"))
            XCTAssertEqual(Set(reference.tensors.keys), Set(pruned.weights.keys))
            for (name, expected) in reference.tensors {
                let ours = try XCTUnwrap(pruned.weights[name], name)
                XCTAssertEqual(ours.shape, expected.shape, name)
                let a = ours.floats().map(\.bitPattern), b = expected.floats().map(\.bitPattern)
                let differing = zip(a, b).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "\(scope) \(name): \(differing) values differ from the reference (bitwise)")
            }
            // Tensors outside the selection are the very same storage; the input model is unchanged.
            let original = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
            for (name, t) in model.weights {
                XCTAssertEqual(t.floats(), original.weights[name]?.floats(), "input tensor \(name) changed")
                if name.contains("norm") || name.contains("embed") || name.hasPrefix("lm_head") {
                    XCTAssertTrue(pruned.weights[name]!.storage === t.storage, "\(name) should be shared")
                }
            }
        }
    }

    func testRequestedSparsityIsReachedAndReportRenders() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        for s in [0.3, 0.7] {
            let (_, report) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: s, scope: .global))
            XCTAssertEqual(report.overallSparsity, s, accuracy: 1e-4)
            XCTAssertEqual(report.modelBytesBefore, report.modelBytesAfter)
            let text = report.description
            XCTAssertTrue(text.contains("model.layers.1.mlp.down_proj.weight"))
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("model.layers.") }
            XCTAssertEqual(Set(lines.map(\.count)).count, 1, "table columns should align:\n\(text)")
        }
    }

    func testBadArgumentsAreClearErrors() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        XCTAssertThrowsError(try Pruning.prune(model, method: "random")) { e in
            XCTAssertTrue("\(e)".contains("unknown pruning method 'random'"))
        }
        XCTAssertThrowsError(try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: 1.5)))
        XCTAssertThrowsError(try TensorSelection(targets: ["("]))
        let none = try TensorSelection(targets: ["nothing_like_this"])
        XCTAssertThrowsError(try Pruning.prune(model, method: "magnitude", options: PruneOptions(selection: none)))
    }

    func testTargetsAndIgnoreSelectTensors() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let selection = try TensorSelection(targets: ["mlp\\."], ignore: ["layers\\.1\\."])
        let (pruned, report) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(selection: selection))
        XCTAssertEqual(report.rows.map(\.name).sorted(), ["model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.gate_proj.weight",
                                                          "model.layers.0.mlp.up_proj.weight"])
        XCTAssertTrue(pruned.weights["model.layers.1.mlp.up_proj.weight"]!.storage === model.weights["model.layers.1.mlp.up_proj.weight"]!.storage)
    }
}
