import Foundation
import XCTest
import LLMOptCore

/// GPTQ against round-to-nearest on the same grid.
final class QuantGPTQTests: XCTestCase {
    /// A deterministic layer and correlated inputs: x = z · M with z uniform, so H is far from diagonal.
    static func layer(rows: Int, cols: Int, tokens: Int) -> (w: Tensor, x: [Float], h: [Float]) {
        var rng = SystemRandomNumberGenerator.Seeded(seed: 7)
        let w = Tensor(shape: [rows, cols], floats: (0..<(rows * cols)).map { _ in Float(rng.normal()) * 0.05 })
        let mix = (0..<(cols * cols)).map { _ in Float(rng.normal()) / Float(cols).squareRoot() }
        let z = (0..<(tokens * cols)).map { i in Float(rng.normal()) * (i % cols < 4 ? 8 : 1) }
        var x = [Float](repeating: 0, count: tokens * cols)
        for t in 0..<tokens { for j in 0..<cols { var s: Float = 0; for k in 0..<cols { s += z[t * cols + k] * mix[k * cols + j] }; x[t * cols + j] = s } }
        var h = [Float](repeating: 0, count: cols * cols)
        for t in 0..<tokens { for i in 0..<cols { for j in 0..<cols { h[i * cols + j] += x[t * cols + i] * x[t * cols + j] } } }
        return (w, x, h)
    }

    /// ‖X Wᵀ − X Ŵᵀ‖ (Frobenius).
    static func outputError(_ x: [Float], _ w: [Float], _ q: [Float], rows: Int, cols: Int) -> Double {
        let tokens = x.count / cols
        var total = 0.0
        for t in 0..<tokens {
            for r in 0..<rows {
                var d = 0.0
                for j in 0..<cols { d += Double(x[t * cols + j]) * Double(w[r * cols + j] - q[r * cols + j]) }
                total += d * d
            }
        }
        return total.squareRoot()
    }

    func testGPTQBeatsRoundToNearestOnOutputError() throws {
        let (rows, cols) = (48, 96)
        let (w, x, h) = Self.layer(rows: rows, cols: cols, tokens: 400)
        let wf = w.floats()
        for (bits, group, symmetric, actOrder) in [(4, 32, true, false), (4, 32, false, false), (3, 0, true, false), (4, 32, true, true), (4, -1, true, false), (8, 32, true, false)] {
            let grid = try QuantGrid(bits: bits, grouping: QuantGrouping(group: group), symmetric: symmetric)
            let rtn = try RoundToNearest.quantize(w, grid: grid, name: "w").floats()
            let gptq = try GPTQ.quantize(w, hessian: h, grid: grid, options: GPTQOptions(blockSize: 64, actOrder: actOrder), name: "w")
            XCTAssertEqual(gptq.dtype, .qgroup)
            let eRTN = Self.outputError(x, wf, rtn, rows: rows, cols: cols)
            let eGPTQ = Self.outputError(x, wf, gptq.floats(), rows: rows, cols: cols)
            print("GPTQ layer \(grid) actOrder \(actOrder): output error RTN \(eRTN), GPTQ \(eGPTQ) (\(String(format: "%.2f", eGPTQ / eRTN))x)")
            XCTAssertLessThan(eGPTQ, eRTN * 0.9, "\(grid) actOrder \(actOrder)")
        }
    }

    func testGPTQCodesLieOnTheGrid() throws {
        let (w, _, h) = Self.layer(rows: 8, cols: 40, tokens: 64)
        let grid = try QuantGrid(bits: 4, grouping: .groups(16), symmetric: false)
        let q = try GPTQ.quantize(w, hessian: h, grid: grid, name: "w")
        let values = q.floats()
        for r in 0..<8 {
            let row = q.rawPointer + r * q.rowBytes
            let layout = GroupQuantLayout(row: row)
            XCTAssertEqual(layout.groupSize, 16)
            for c in 0..<40 {
                let g = c / 16, code = layout.code(row, index: c)
                XCTAssertTrue((0...15).contains(code))
                XCTAssertEqual(values[r * 40 + c], Float(code - layout.zero(row, group: g)) * layout.scale(row, group: g))
            }
        }
    }

    func testGPTQRejectsAWrongHessian() {
        let w = Tensor(shape: [2, 4], floats: [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertThrowsError(try GPTQ.quantize(w, hessian: [1, 2, 3], grid: QuantGrid(bits: 4, grouping: .perChannel, symmetric: true), name: "layer.w")) { error in
            XCTAssertTrue("\(error)".contains("layer.w"))
        }
    }
}

extension SystemRandomNumberGenerator {
    /// A seeded generator for test data (xorshift64*), with a Box-Muller normal.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
        mutating func next() -> UInt64 {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func normal() -> Double {
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self), u2 = Double.random(in: 0..<1, using: &self)
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
    }
}
