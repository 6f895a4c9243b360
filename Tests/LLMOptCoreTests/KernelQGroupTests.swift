import CLLMOptKernels
import LLMOptCore
import XCTest

/// The group-quantized (`.qgroup`) weight kernels: `Linear.forward` on every instruction-set path,
/// decode (few rows) and prefill (packed GEMM) alike, against the double-accumulated product with
/// the weights `Dequantize.row` gives.
final class KernelQGroupTests: XCTestCase {
    static let groupings: [QuantGrouping] = [.groups(32), .groups(128), .groups(20), .perChannel, .perTensor]

    /// A random [n, k] matrix quantized by round-to-nearest on `grid`, and its dequantized values.
    static func weight(n: Int, k: Int, grid: QuantGrid, rng: inout TestRandom) throws -> (Tensor, [Float]) {
        let w = try RoundToNearest.quantize(Tensor(shape: [n, k], floats: rng.floats(n * k)), grid: grid, name: "w")
        XCTAssertEqual(w.dtype, .qgroup)
        var values = [Float](repeating: .nan, count: n * k)
        Dequantize.row(from: w.rawPointer, dtype: .qgroup, count: n * k, into: &values)
        return (w, values)
    }

    /// x [m, k] as the integer kernels see it: rounded to 8 bits per 32-block by the reference quantizer.
    static func roundedActivations(_ x: [Float], m: Int, k: Int) -> [Float] {
        let rb = llmopt_q8act_row_bytes(Int32(k))
        var buf = [UInt8](repeating: 0, count: rb)
        var out = [Float](), scale: Float = 0, sum: Int32 = 0
        var values = [Int8](repeating: 0, count: 32)
        for i in 0..<m {
            x.withUnsafeBufferPointer { llmopt_q8act_quantize_ref(Int32(k), $0.baseAddress! + i * k, &buf) }
            for b in 0..<(k / 32) {
                llmopt_q8act_block(Int32(k), buf, Int32(b), &scale, &sum, &values)
                out += values.map { scale * Float($0) }
            }
        }
        return out
    }

    /// Checks `Linear.forward` for each row count on every path, with exact and quantized
    /// activations (the latter rounded as the integer kernels round them, where those run).
    func check(weight: Tensor, values: [Float], rows: [Int], rng: inout TestRandom, _ label: String) {
        let n = weight.shape[0], k = weight.columns
        let integer = llmopt_qgroup_integer_ok(weight.rawPointer, Int32(k)) != 0
        for m in rows {
            let x = rng.floats(m * k)
            for activations in [Linear.Activations.quantized, .exact] {
                let rounded = activations == .quantized && integer && m <= Linear.integerRowLimit
                let ref = KernelTestData.reference(x: rounded ? Self.roundedActivations(x, m: m, k: k) : x, m: m, w: values, n: n, k: k)
                KernelTestData.forEachPath { isa in
                    var y = [Float](repeating: .nan, count: m * n)
                    Linear.forward(x, rows: m, weight: weight, into: &y, activations: activations)
                    XCTAssertLessThan(KernelTestData.worstRelativeError(y, ref), 1e-5, "\(isa) \(label) m=\(m) \(activations)")
                }
            }
        }
    }

    /// The integer kernels take 4- and 8-bit codes in whole 32-blocks only.
    func testIntegerKernelEligibility() throws {
        var rng = TestRandom(seed: 43)
        for (bits, group, k, expected) in [(4, 32, 160, true), (8, 128, 160, true), (4, 0, 96, true), (4, -1, 64, true),
                                           (3, 32, 160, false), (4, 20, 160, false), (4, 32, 172, false), (4, 0, 48, false)] {
            let grid = try QuantGrid(bits: bits, grouping: try QuantGrouping(group: group), symmetric: true)
            let (w, _) = try Self.weight(n: 2, k: k, grid: grid, rng: &rng)
            XCTAssertEqual(llmopt_qgroup_integer_ok(w.rawPointer, Int32(k)) != 0, expected, "\(grid) k=\(k)")
        }
    }

    func testEveryWidthGroupingAndShape() throws {
        var rng = TestRandom(seed: 40)
        for bits in [2, 3, 4, 8] {
            for (symmetric, fullRange) in [(true, false), (true, true), (false, false)] {
                for grouping in Self.groupings {
                    let grid = try QuantGrid(bits: bits, grouping: grouping, symmetric: symmetric, fullRange: fullRange)
                    // k = 172: the last group of 32 (or 128, or 20) is shorter; k = 45: odd, codes end
                    // mid-byte; k = 160: five 32-blocks, the integer kernels' odd last block.
                    for (n, k) in [(19, 172), (5, 45), (17, 160)] {
                        let (w, values) = try Self.weight(n: n, k: k, grid: grid, rng: &rng)
                        check(weight: w, values: values, rows: [1, 3, 8, 9, 12, 64], rng: &rng, "\(grid) n=\(n) k=\(k)")
                    }
                }
            }
        }
    }

    /// A deep product crosses the GEMM's depth blocking, so panels start in the middle of a group
    /// (and, for 3-bit codes in groups of 20, in the middle of a byte).
    func testDeepProductAcrossDepthBlocks() throws {
        var rng = TestRandom(seed: 41)
        let m = 40, n = 13, k = 9000
        XCTAssertLessThan(Int(llmopt_gemm_kc(Int32(m), Int32(k))), k)
        for grid in [try QuantGrid(bits: 4, grouping: .groups(128), symmetric: true),
                     try QuantGrid(bits: 3, grouping: .groups(20), symmetric: false)] {
            let (w, values) = try Self.weight(n: n, k: k, grid: grid, rng: &rng)
            check(weight: w, values: values, rows: [m, 2], rng: &rng, "\(grid)")
        }
    }

    /// Row slices of a qgroup tensor (the rows a thread or a head reads) go through the same kernels.
    func testRowSlice() throws {
        var rng = TestRandom(seed: 42)
        let grid = try QuantGrid(bits: 4, grouping: .groups(32), symmetric: false)
        let (w, values) = try Self.weight(n: 30, k: 96, grid: grid, rng: &rng)
        let slice = w.rowSlice(7..<20)
        check(weight: slice, values: Array(values[(7 * 96)..<(20 * 96)]), rows: [1, 5, 12], rng: &rng, "slice")
    }
}
