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

    /// Checks `Linear.forward` for each row count on every path.
    func check(weight: Tensor, values: [Float], rows: [Int], rng: inout TestRandom, _ label: String) {
        let n = weight.shape[0], k = weight.columns
        for m in rows {
            let x = rng.floats(m * k)
            let ref = KernelTestData.reference(x: x, m: m, w: values, n: n, k: k)
            KernelTestData.forEachPath { isa in
                var y = [Float](repeating: .nan, count: m * n)
                Linear.forward(x, rows: m, weight: weight, into: &y)
                XCTAssertLessThan(KernelTestData.worstRelativeError(y, ref), 1e-5, "\(isa) \(label) m=\(m)")
            }
        }
    }

    func testEveryWidthGroupingAndShape() throws {
        var rng = TestRandom(seed: 40)
        for bits in [2, 3, 4, 8] {
            for symmetric in [true, false] {
                for grouping in Self.groupings {
                    let grid = try QuantGrid(bits: bits, grouping: grouping, symmetric: symmetric)
                    // k = 172: the last group of 32 (or 128, or 20) is shorter; k = 45: odd, codes end mid-byte.
                    for (n, k) in [(19, 172), (5, 45)] {
                        let (w, values) = try Self.weight(n: n, k: k, grid: grid, rng: &rng)
                        check(weight: w, values: values, rows: [1, 3, 8, 9, 64], rng: &rng, "\(grid) n=\(n) k=\(k)")
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
