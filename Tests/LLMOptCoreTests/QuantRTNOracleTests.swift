import Foundation
import LLMOptCore
import LLMOptTestSupport
import XCTest

/// Round-to-nearest at every bit width against the oracle's own integer codes, scales and zero
/// points (../shared/testdata/derived/tiny-llama-q{2,3,5,6,7}g32, -q3g32-asym, -q5row-asym,
/// computed by PyTorch with half-to-even rounding), not against values the code under test
/// produced. Each quantized tensor must hold the same codes and scales bit for bit, and
/// dequantize to the oracle's fake-quantized weights.
final class QuantRTNOracleTests: XCTestCase {
    func testEveryBitWidthMatchesTheOraclesCodes() throws {
        let base = try HuggingFaceFolder.load(try SharedFiles.testdata("models/tiny-llama"))
        let cases: [(String, Int, Int, Bool)] = [
            ("tiny-llama-q2g32", 2, 32, true), ("tiny-llama-q3g32", 3, 32, true), ("tiny-llama-q5g32", 5, 32, true),
            ("tiny-llama-q6g32", 6, 32, true), ("tiny-llama-q7g32", 7, 32, true),
            ("tiny-llama-q3g32-asym", 3, 32, false), ("tiny-llama-q5row-asym", 5, 0, false),
        ]
        for (folder, bits, group, symmetric) in cases {
            let path = try SharedFiles.testdata("derived/\(folder)")
            let (q, report) = try Quantization.quantize(base, scheme: "rtn", options: QuantizationOptions(bits: bits, group: group, symmetric: symmetric))
            XCTAssertEqual(report.rows.count, 14, folder)
            let codes = try OracleCodes(path: path + "/quant_codes.safetensors")
            let expected = try SafetensorsFile(path: path + "/model.safetensors")
            for row in report.rows {
                let t = try q.weight(row.name)
                XCTAssertEqual(t.dtype, .qgroup)
                let stem = String(row.name.dropLast(".weight".count))
                let wantCodes = try XCTUnwrap(codes.values[stem + ".qweight"], "\(folder) \(stem)")
                let wantScales = try XCTUnwrap(codes.values[stem + ".scales"], "\(folder) \(stem)")
                let wantZeros = symmetric ? [] : try XCTUnwrap(codes.values[stem + ".zeros"], "\(folder) \(stem)")
                let cols = t.columns, size = group > 0 ? group : cols, groups = (cols + size - 1) / size
                XCTAssertEqual(wantScales.count, t.rows * groups, "\(folder) \(stem)")
                var codeMismatches = 0, scaleMismatches = 0, zeroMismatches = 0
                for r in 0..<t.rows {
                    let p = t.rawPointer + r * t.rowBytes
                    let layout = GroupQuantLayout(row: p)
                    XCTAssertEqual(layout.bits, bits)
                    XCTAssertEqual(layout.symmetric, symmetric)
                    for c in 0..<cols where Float(layout.code(p, index: c)) != wantCodes[r * cols + c] { codeMismatches += 1 }
                    for g in 0..<groups {
                        if layout.scale(p, group: g).bitPattern != wantScales[r * groups + g].bitPattern { scaleMismatches += 1 }
                        if !symmetric && Float(layout.zero(p, group: g)) != wantZeros[r * groups + g] { zeroMismatches += 1 }
                    }
                }
                XCTAssertEqual(codeMismatches, 0, "\(folder) \(row.name): codes")
                XCTAssertEqual(scaleMismatches, 0, "\(folder) \(row.name): scales")
                XCTAssertEqual(zeroMismatches, 0, "\(folder) \(row.name): zero points")
                let want = try XCTUnwrap(expected.tensors[row.name]).floats()
                let got = t.toF32().floats()
                XCTAssertEqual(zip(got, want).filter { $0.0 != $0.1 }.count, 0, "\(folder) \(row.name): dequantized values")
            }
        }
    }
}

/// The oracle's code files hold I8, I16 and I32 tensors, which model files never do (and the
/// loader refuses): read them here as floats, independently of the code under test.
struct OracleCodes {
    let values: [String: [Float]]

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        var values: [String: [Float]] = [:]
        for (name, entry) in header where name != "__metadata__" {
            let e = try XCTUnwrap(entry as? [String: Any])
            let dtype = try XCTUnwrap(e["dtype"] as? String)
            let offsets = try XCTUnwrap(e["data_offsets"] as? [Int])
            let bytes = data.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1]))
            values[name] = try bytes.withUnsafeBytes { raw -> [Float] in
                switch dtype {
                case "F32": return raw.bindMemory(to: Float.self).map { $0 }
                case "I8": return raw.bindMemory(to: Int8.self).map { Float($0) }
                case "I16": return raw.bindMemory(to: Int16.self).map { Float($0) }
                case "I32": return raw.bindMemory(to: Int32.self).map { Float($0) }
                default: throw XCTSkip("\(path): dtype \(dtype) not read here")
                }
            }
        }
        self.values = values
    }
}
