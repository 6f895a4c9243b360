import Foundation
import XCTest
import LLMOptCore

/// Round-to-nearest against the float32 oracle of `Tests/Fixtures/derived` and `golden/quant_*`.
final class QuantRTNTests: XCTestCase {
    static let tinyLlama = Fixtures.path("models/tiny-llama")

    func quantizeTinyLlama(bits: Int, group: Int, symmetric: Bool) throws -> (Model, Model, QuantReport) {
        let base = try HuggingFaceFolder.load(Self.tinyLlama)
        let (q, report) = try Quantization.quantize(base, scheme: "rtn", options: QuantizationOptions(bits: bits, group: group, symmetric: symmetric))
        return (base, q, report)
    }

    /// Every tensor of the quantized model, dequantized, equals the oracle's fake-quantized one.
    func assertMatchesDerived(_ q: Model, folder: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try SafetensorsFile(path: Fixtures.path("derived/\(folder)/model.safetensors"))
        XCTAssertEqual(Set(expected.tensors.keys), Set(q.weights.keys), file: file, line: line)
        for (name, want) in expected.tensors {
            let got = try q.weight(name)
            XCTAssertEqual(got.shape, want.shape, name, file: file, line: line)
            let a = got.floats(), b = want.floats()
            // IEEE equality: the oracle multiplies float codes, so a negative weight that rounds
            // to code 0 comes out as -0.0 there and +0.0 from integer codes; the values are equal.
            let mismatches = zip(a, b).filter { $0.0 != $0.1 }.count
            XCTAssertEqual(mismatches, 0, "\(folder): \(name) differs in \(mismatches) of \(b.count) values", file: file, line: line)
        }
    }

    func testCodesAndScalesMatchOracle() throws {
        for (folder, bits) in [("tiny-llama-q8g32", 8), ("tiny-llama-q4g32", 4)] {
            let (_, q, report) = try quantizeTinyLlama(bits: bits, group: 32, symmetric: true)
            XCTAssertEqual(report.rows.count, 14)
            let codes = try SafetensorsFile(path: Fixtures.path("derived/\(folder)/quant_codes.safetensors"))
            for row in report.rows {
                let t = try q.weight(row.name)
                XCTAssertEqual(t.dtype, .qgroup)
                let stem = String(row.name.dropLast(".weight".count))
                let qweight = try XCTUnwrap(codes.tensors[stem + ".qweight"], stem)
                let scales = try XCTUnwrap(codes.tensors[stem + ".scales"], stem).floats()
                let wantCodes = qweight.floats()
                let cols = t.columns, groups = (cols + 31) / 32
                XCTAssertEqual(scales.count, t.rows * groups)
                var codeMismatches = 0, scaleMismatches = 0
                for r in 0..<t.rows {
                    let rowPointer = t.rawPointer + r * t.rowBytes
                    let layout = GroupQuantLayout(row: rowPointer)
                    XCTAssertEqual(layout.bits, bits)
                    XCTAssertTrue(layout.symmetric)
                    XCTAssertEqual(layout.groupSize, 32)
                    for c in 0..<cols where Float(layout.code(rowPointer, index: c)) != wantCodes[r * cols + c] { codeMismatches += 1 }
                    for g in 0..<groups where layout.scale(rowPointer, group: g).bitPattern != scales[r * groups + g].bitPattern { scaleMismatches += 1 }
                }
                XCTAssertEqual(codeMismatches, 0, "\(folder) \(row.name)")
                XCTAssertEqual(scaleMismatches, 0, "\(folder) \(row.name)")
            }
            try assertMatchesDerived(q, folder: folder)
        }
    }

    func testFakeQuantizedWeightsMatchOracle() throws {
        for (folder, bits, group, symmetric) in [("tiny-llama-q4g32-asym", 4, 32, false), ("tiny-llama-q8row", 8, 0, true)] {
            let (_, q, _) = try quantizeTinyLlama(bits: bits, group: group, symmetric: symmetric)
            try assertMatchesDerived(q, folder: folder)
        }
    }

    func testPerMatrixErrorsMatchGolden() throws {
        let cases = [("tiny-llama", "b8_g32_sym", 8, 32, true), ("tiny-llama", "b4_g32_sym", 4, 32, true),
                     ("tiny-llama", "b4_g32_asym", 4, 32, false), ("tiny-llama", "b8_row_sym", 8, 0, true),
                     ("tiny-gpt2", "b8_g32_sym", 8, 32, true), ("tiny-gpt2", "b4_g32_sym", 4, 32, true)]
        for (model, tag, bits, group, symmetric) in cases {
            let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/quant_\(model)_\(tag).json")))
            let golden = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            let perMatrix = try XCTUnwrap(golden["per_matrix_rel_fro_err"] as? [String: Double])
            let overall = try XCTUnwrap(golden["overall_rel_fro_err"] as? Double)
            let base = try HuggingFaceFolder.load(Fixtures.path("models/\(model)"))
            let (_, report) = try Quantization.quantize(base, scheme: "rtn", options: QuantizationOptions(bits: bits, group: group, symmetric: symmetric))
            XCTAssertEqual(Set(report.rows.map(\.name)), Set(perMatrix.keys), "\(model) \(tag)")
            for row in report.rows {
                // The golden values are rounded to 6 decimals.
                XCTAssertEqual(row.relativeError, try XCTUnwrap(perMatrix[row.name]), accuracy: 5.01e-7, "\(model) \(tag) \(row.name)")
            }
            XCTAssertEqual(report.overallRelativeError, overall, accuracy: overall * 1e-9, "\(model) \(tag)")
        }
    }

    func testPackedStorageIsSmallerAndHonest() throws {
        let (base, q, report) = try quantizeTinyLlama(bits: 4, group: 32, symmetric: true)
        let down = try XCTUnwrap(report.row("model.layers.0.mlp.down_proj.weight"))
        // 172 columns: 12-byte header, 6 f32 scales, 86 bytes of nibbles, padded to 4: 124 bytes a row.
        XCTAssertEqual(down.bytesBefore, 64 * 172 * 4)
        XCTAssertEqual(down.bytesAfter, 64 * 124)
        XCTAssertEqual(try q.weight(down.name).byteCount, down.bytesAfter)
        XCTAssertEqual(report.modelBytesBefore, base.byteCount)
        XCTAssertEqual(report.modelBytesAfter, q.byteCount)
        XCTAssertLessThan(Double(report.bytesAfter), Double(report.bytesBefore) / 4.5)
        // Untouched tensors are shared, not copied.
        XCTAssertEqual(try q.weight("lm_head.weight").storage === base.weight("lm_head.weight").storage, true)
        XCTAssertTrue(report.description.contains("int4 sym g32"))
    }

    func testEveryBitWidthAndGroupingRoundTrips() throws {
        let cols = 45, rows = 7
        let values = (0..<(rows * cols)).map { i in Float(sin(Double(i) * 1.7)) * Float(i % 5 + 1) }
        let w = Tensor(shape: [rows, cols], floats: values)
        for bits in 2...8 {
            for group in [-1, 0, 1, 8, 32, 45, 64] {
                for symmetric in [true, false] {
                    let grid = try QuantGrid(bits: bits, grouping: QuantGrouping(group: group), symmetric: symmetric)
                    let q = try RoundToNearest.quantize(w, grid: grid, name: "w")
                    let got = q.floats()
                    // Reference: the README's rule written out directly.
                    let size = group > 0 ? min(group, cols) : cols
                    for r in 0..<rows {
                        for start in stride(from: 0, to: cols, by: size) {
                            let range = group == -1 ? 0..<(rows * cols) : (r * cols + start)..<(r * cols + min(cols, start + size))
                            let g = values[range]
                            let (scale, zero) = grid.parameters(min: g.min()!, max: g.max()!)
                            for i in (r * cols + start)..<(r * cols + min(cols, start + size)) {
                                let want = grid.value(code: grid.code(values[i], scale: scale, zero: zero), scale: scale, zero: zero)
                                XCTAssertEqual(got[i], want, "bits \(bits) group \(group) sym \(symmetric) index \(i)")
                            }
                        }
                    }
                    let layout = GroupQuantLayout(row: q.rawPointer)
                    let codes = (0..<cols).map { layout.code(q.rawPointer, index: $0) }
                    XCTAssertTrue(codes.allSatisfy { symmetric ? abs($0) <= grid.maxCode : (0...grid.maxCode).contains($0) })
                }
            }
        }
    }

    /// The full-range symmetric grid, written out from ggml's Q4_0 rule rather than through
    /// `QuantGrid`: per group, d = m / −2^(b−1) with m the value of largest magnitude, codes
    /// round(w / d) clamped to −2^(b−1)...2^(b−1)−1. It uses every code, maps m back exactly,
    /// and at 3 and 4 bits has a smaller error than the restricted ±qmax grid.
    func testFullRangeGrid() throws {
        var rng = TestRandom(seed: 7)
        let rows = 16, cols = 128
        let values = (0..<(rows * cols)).map { _ in rng.float() + rng.float() + rng.float() }
        let w = Tensor(shape: [rows, cols], floats: values)
        for bits in [3, 4, 8] {
            let full = try QuantGrid(bits: bits, grouping: .groups(32), symmetric: true, fullRange: true)
            let restricted = try QuantGrid(bits: bits, grouping: .groups(32), symmetric: true)
            let got = try RoundToNearest.quantize(w, grid: full, name: "w").floats()
            let lowest = -(1 << (bits - 1)), highest = (1 << (bits - 1)) - 1
            var codesSeen = Set<Int>()
            for start in stride(from: 0, to: rows * cols, by: 32) {
                let group = Array(values[start..<(start + 32)])
                let m = group.max { abs($0) < abs($1) }!
                let d = m / Float(lowest)
                for (i, x) in group.enumerated() {
                    let q = min(max(Int((x / d).rounded(.toNearestOrEven)), lowest), highest)
                    codesSeen.insert(q)
                    XCTAssertEqual(got[start + i], Float(q) * d, "bits \(bits) index \(start + i)")
                }
                XCTAssertEqual(got[start + group.firstIndex(of: m)!], m, "the extreme comes back exactly")
            }
            XCTAssertEqual(codesSeen.min(), lowest)
            let codes = try RoundToNearest.quantize(w, grid: full, name: "w")
            let layout = GroupQuantLayout(row: codes.rawPointer)
            XCTAssertTrue((0..<cols).allSatisfy { (lowest...highest).contains(layout.code(codes.rawPointer, index: $0)) })
            if bits < 8 {
                let other = try RoundToNearest.quantize(w, grid: restricted, name: "w").floats()
                func error(_ q: [Float]) -> Float { zip(q, values).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }
                XCTAssertLessThan(error(got), error(other), "bits \(bits): one more level should cost less error")
            }
        }
        XCTAssertThrowsError(try QuantGrid(bits: 4, grouping: .groups(32), symmetric: false, fullRange: true)) {
            XCTAssertTrue("\($0)".contains("full_range"), "\($0)")
        }
    }

    func testPrunedZerosSurvive() throws {
        let pruned = try HuggingFaceFolder.load(Fixtures.path("derived/tiny-llama-prune50-layer"))
        for (scheme, symmetric) in [("int4", true), ("int4", false), ("q8_0", true), ("q4_0", true)] {
            let (_, report) = try Quantization.quantize(pruned, scheme: scheme, options: QuantizationOptions(group: 32, symmetric: symmetric))
            for row in report.rows {
                XCTAssertGreaterThan(row.zerosBefore, 0, row.name)
                XCTAssertEqual(row.zerosLost, 0, "\(scheme) sym \(symmetric) \(row.name)")
            }
        }
        // Q4_1 stores the block minimum as an offset: a zero comes back as q*d + m, rarely exactly 0.
        let (q41, report) = try Quantization.quantize(pruned, scheme: "q4_1")
        let row = try XCTUnwrap(report.row("model.layers.0.self_attn.q_proj.weight"))
        let before = try pruned.weight(row.name).floats(), after = try q41.weight(row.name).floats()
        let lost = zip(before, after).filter { $0.0 == 0 && $0.1 != 0 }.count
        XCTAssertEqual(row.zerosLost, lost)
        XCTAssertGreaterThan(lost, 0)
    }

    func testMixedChoicesByName() throws {
        let base = try HuggingFaceFolder.load(Self.tinyLlama)
        let (q, report) = try Quantization.quantize(base, scheme: "int4", options: QuantizationOptions(
            group: 32, ignore: ["layers\\.1\\.mlp"], overrides: [SchemeOverride("embed_tokens", "q8_0"), SchemeOverride("^lm_head", "f16")]))
        XCTAssertEqual(try q.weight("model.embed_tokens.weight").dtype, .q8_0)
        XCTAssertEqual(try q.weight("lm_head.weight").dtype, .f16)
        XCTAssertEqual(try q.weight("model.layers.0.mlp.down_proj.weight").dtype, .qgroup)
        XCTAssertEqual(try q.weight("model.layers.1.mlp.up_proj.weight").dtype, .f32, "ignored")
        XCTAssertEqual(try q.weight("model.layers.0.input_layernorm.weight").dtype, .f32, "norms are never quantized")
        XCTAssertEqual(report.rows.count, 2 + 7 + 4)
        XCTAssertEqual(report.row("lm_head.weight")?.format, "F16")
        XCTAssertEqual(report.row("model.embed_tokens.weight")?.bytesAfter, 512 * 2 * 34)
    }

    /// GGUF and safetensors have no packed int-N group type: savers write the dequantized values.
    func testPackedModelsSaveAsTheirValues() throws {
        let (_, q, _) = try quantizeTinyLlama(bits: 4, group: 32, symmetric: false)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llmopt-quant-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for target in [dir + "/q.gguf", dir + "/hf"] {
            try ModelSaver.save(q, to: target)
            let loaded = try ModelLoader.load(path: target)
            // (q/k rows are stored permuted in GGUF, so compare tensors that keep their layout.)
            for name in ["model.layers.0.self_attn.v_proj.weight", "model.layers.1.mlp.down_proj.weight"] {
                let same = try loaded.weight(name).floats() == q.weight(name).floats()
                XCTAssertTrue(same, "\(target): \(name) does not hold the dequantized values")
            }
        }
    }

    func testBadArgumentsAreReported() throws {
        let base = try HuggingFaceFolder.load(Self.tinyLlama)
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message { _ = try Quantization.quantize(base, scheme: "rtn", options: QuantizationOptions(bits: 9)) }.contains("bits"))
        XCTAssertTrue(message { _ = try Quantization.quantize(base, scheme: "rtn", options: QuantizationOptions(group: -2)) }.contains("group"))
        XCTAssertTrue(message { _ = try Quantization.quantize(base, scheme: "int4", options: QuantizationOptions(targets: ["(("])) }.contains("targets"))
        XCTAssertTrue(message { _ = try Quantization.quantize(base, scheme: "nf4") }.contains("unknown scheme 'nf4'"))
        XCTAssertTrue(message { _ = try Quantization.quantize(base, scheme: "int4", options: QuantizationOptions(targets: ["nothing-matches"])) }.contains("no matrix"))
        let bad = base.replacing("model.layers.0.self_attn.q_proj.weight", with: Tensor(shape: [2, 2], floats: [1, .nan, 0, 1]))
        XCTAssertTrue(message { _ = try Quantization.quantize(bad, scheme: "int8") }.contains("model.layers.0.self_attn.q_proj.weight"))
    }
}
