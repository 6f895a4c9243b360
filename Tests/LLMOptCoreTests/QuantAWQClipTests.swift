@testable import LLMOptCore
import XCTest

/// AWQ's clipping search (`AWQ.clip`) on a weight with outliers and inputs of uneven energy.
final class QuantAWQClipTests: XCTestCase {
    /// A [rows, cols] weight with one large value per row, and H = XᵀX of inputs whose first
    /// columns carry most of the energy.
    static func problem(rows: Int, cols: Int, seed: UInt64) -> (Tensor, [Float]) {
        var rng = TestRandom(seed: seed)
        var w = rng.floats(rows * cols).map { $0 * 0.1 }
        for r in 0..<rows { w[r * cols + (r * 7) % cols] = 0.9 }
        let samples = 256
        let x = (0..<(samples * cols)).map { i in rng.float() * (i % cols < 8 ? 4 : 1) }
        var h = [Float](repeating: 0, count: cols * cols)
        for s in 0..<samples {
            for i in 0..<cols { for j in 0..<cols { h[i * cols + j] += x[s * cols + i] * x[s * cols + j] } }
        }
        return (Tensor(shape: [rows, cols], floats: w), h)
    }

    func testClippingLowersGroupErrorsAndOnlyNarrowsRanges() throws {
        let rows = 24, cols = 64
        let (w, h) = Self.problem(rows: rows, cols: cols, seed: 3)
        let s = (0..<cols).map { 0.5 + Float($0 % 5) * 0.25 }
        for grid in [try QuantGrid(bits: 4, grouping: .groups(32), symmetric: true),
                     try QuantGrid(bits: 3, grouping: .perChannel, symmetric: false)] {
            let (clipped, before, after) = AWQ.clip(w, hessian: h, inputScales: s, grid: grid)
            XCTAssertLessThan(after, before, "\(grid): clipping the outliers should lower the calibration error")
            XCTAssertGreaterThan(after, 0)
            let original = w.floats(), result = clipped.floats()
            let size = grid.grouping.groupSize(columns: cols)
            for r in 0..<rows {
                for start in stride(from: 0, to: cols, by: size) {
                    let g = (start..<min(cols, start + size)).map { r * cols + $0 }
                    let lo = g.map { original[$0] }.min()!, hi = g.map { original[$0] }.max()!
                    for i in g {
                        XCTAssertTrue(result[i] >= lo && result[i] <= hi, "row \(r) col \(i % cols): \(result[i]) outside [\(lo), \(hi)]")
                        // A value is kept, or moved toward zero (onto the group's narrower bound).
                        XCTAssertTrue(result[i] == original[i] || abs(result[i]) < abs(original[i]), "row \(r) col \(i % cols)")
                    }
                }
            }
            XCTAssertNotEqual(result, original, "\(grid): some group should be clipped")
        }
    }

    /// Per tensor there is one range for the whole matrix: nothing to search.
    func testPerTensorGridIsLeftAlone() throws {
        let (w, h) = Self.problem(rows: 8, cols: 32, seed: 4)
        let (clipped, before, after) = AWQ.clip(w, hessian: h, inputScales: nil, grid: try QuantGrid(bits: 4, grouping: .perTensor, symmetric: true))
        XCTAssertEqual(clipped.floats(), w.floats())
        XCTAssertEqual(before, 0)
        XCTAssertEqual(after, 0)
    }
}
