import CLLMOptKernels
import Foundation
@testable import LLMOptCore
import XCTest

/// The thread pool behind `Parallel.forRanges`, and the fused decode `Linear.forward(weights:)`
/// that leans on it.
final class ParallelTests: XCTestCase {
    /// Every index of every run is visited exactly once, whatever the count, grain and chunking.
    func testRangesCoverEveryIndexExactlyOnce() {
        for count in [1, 2, 15, 16, 17, 100, 1000, 4099] {
            for grain in [1, 16] {
                for chunks in [1, 2, 4, 64] {
                    let hits = UnsafeMutableBufferPointer<Int32>.allocate(capacity: count)
                    hits.initialize(repeating: 0)
                    defer { hits.deallocate() }
                    let base = hits.baseAddress!
                    Parallel.forRanges(count, grain: grain, chunksPerThread: chunks) { r in
                        // A chunk off the grain marks its first index (checked below, on this thread).
                        if r.lowerBound % grain != 0 { base[r.lowerBound] += 1000 }
                        for i in r { base[i] += 1 }
                    }
                    let wrong = hits.firstIndex { $0 != 1 }
                    XCTAssertNil(wrong, "count \(count) grain \(grain) chunks \(chunks): index \(wrong ?? -1) counted \(wrong.map { hits[$0] } ?? 0) (1000 and up: a chunk off the grain)")
                }
            }
        }
    }

    /// A run asked for from inside a run (a parallel op inside a parallel op) completes inline.
    func testNestedRunsComplete() {
        let outer = 8, inner = 100
        let sums = UnsafeMutableBufferPointer<Int>.allocate(capacity: outer)
        sums.initialize(repeating: 0)
        defer { sums.deallocate() }
        let base = sums.baseAddress!
        Parallel.forRanges(outer) { r in
            for o in r {
                let cells = UnsafeMutableBufferPointer<Int>.allocate(capacity: inner)
                cells.initialize(repeating: 0)
                Parallel.forRanges(inner) { ir in for i in ir { cells[i] = i } }
                base[o] = cells.reduce(0, +)
                cells.deallocate()
            }
        }
        XCTAssertEqual(Array(sums), Array(repeating: inner * (inner - 1) / 2, count: outer))
    }

    /// Runs submitted from several threads at once (the pool takes one; the others run on their
    /// own thread) all finish with the right result.
    func testConcurrentSubmittersAllComplete() {
        let submitters = 4, count = 20_000, rounds = 50
        let totals = UnsafeMutableBufferPointer<Int>.allocate(capacity: submitters)
        totals.initialize(repeating: 0)
        defer { totals.deallocate() }
        let base = totals.baseAddress!
        DispatchQueue.concurrentPerform(iterations: submitters) { s in
            let values = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
            defer { values.deallocate() }
            for round in 0..<rounds {
                Parallel.forRanges(count, grain: 16, chunksPerThread: 4) { r in for i in r { values[i] = i + round } }
                base[s] += values.reduce(0, +)
            }
        }
        let expected = (0..<rounds).map { count * (count - 1) / 2 + count * $0 }.reduce(0, +)
        XCTAssertEqual(Array(totals), Array(repeating: expected, count: submitters))
    }

    /// The fused form (one run over q, k and v; or gate and up) gives the same bits as one
    /// `Linear.forward` per weight, for float and block-quantized weights mixed in one call.
    func testFusedLinearMatchesSeparateCalls() {
        var rng = TestRandom(seed: 77)
        let k = 96
        let mixes: [[DType]] = [[.f32, .f32, .f32], [.q8_0, .q8_0, .q8_0], [.q4_0, .q8_0, .f16], [.q4_1, .bf16]]
        for dtypes in mixes {
            let weights = dtypes.enumerated().map { i, dt in KernelTestData.weight(n: 40 + 24 * i, k: k, dtype: dt, rng: &rng) }
            for rows in [1, 3, 8] {
                let x = rng.floats(rows * k)
                var separate: [[Float]] = []
                for w in weights {
                    var y = [Float](repeating: .nan, count: rows * w.shape[0])
                    y.withUnsafeMutableBufferPointer { Linear.forward(x, rows: rows, weight: w, into: $0.baseAddress!) }
                    separate.append(y)
                }
                let outputs = weights.map { UnsafeMutablePointer<Float>.allocate(capacity: rows * $0.shape[0]) }
                defer { outputs.forEach { $0.deallocate() } }
                Linear.forward(x, rows: rows, weights: weights, into: outputs)
                for (i, w) in weights.enumerated() {
                    let fused = Array(UnsafeBufferPointer(start: outputs[i], count: rows * w.shape[0]))
                    XCTAssertEqual(fused, separate[i], "\(dtypes) rows \(rows): weight \(i) (\(w.dtype)) differs")
                }
            }
        }
    }
}
