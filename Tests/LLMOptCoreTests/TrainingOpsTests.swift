import Foundation
import XCTest
@testable import LLMOptCore

/// Every backward kernel of Training/TrainingOps.swift against central finite differences of its
/// forward (L = Σ r·f(x) for a fixed random r), and the GEMM-based linear layer against its
/// naive reference.
final class TrainingOpsTests: XCTestCase {
    var rng = SplitMix64(seed: 7)

    func random(_ n: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in (Float(rng.next() % 20001) / 10000 - 1) * scale }
    }

    /// Checks `backward` (gradients of Σ r·forward(inputs) for each input) against central
    /// differences with step h, relative to the largest gradient of that input.
    func check(_ inputs: [[Float]], outputs: Int, h: Float = 1e-2, tolerance: Double = 2e-3,
               forward: ([[Float]]) -> [Float], backward: ([[Float]], [Float]) -> [[Float]],
               file: StaticString = #filePath, line: UInt = #line) {
        let r = random(outputs)
        func loss(_ x: [[Float]]) -> Double { zip(forward(x), r).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let analytic = backward(inputs, r)
        for (k, input) in inputs.enumerated() {
            let scale = max(1e-6, analytic[k].map { Double(abs($0)) }.max() ?? 0)
            var worst = 0.0
            for i in 0..<input.count {
                var plus = inputs, minus = inputs
                plus[k][i] += h
                minus[k][i] -= h
                let numeric = (loss(plus) - loss(minus)) / Double(2 * h)
                worst = max(worst, abs(numeric - Double(analytic[k][i])) / scale)
            }
            XCTAssertLessThanOrEqual(worst, tolerance, "input \(k)", file: file, line: line)
        }
    }

    func testLinearMatchesNaiveReference() {
        let n = 37, out = 29, k = 45
        let x = random(n * k), w = random(out * k), bias = random(out), dy = random(n * out)
        var fast = [Float](repeating: 0, count: n * out), slow = fast
        TrainOps.linearForward(&fast, x, rows: n, weight: w, out: out, in: k, bias: bias)
        TrainingReference.linearForward(&slow, x, rows: n, weight: w, out: out, in: k, bias: bias)
        XCTAssertLessThan(TrainingReferenceTests.errors(fast, slow).maxAbs, 1e-5)
        var dxF = [Float](repeating: 0, count: n * k), dxS = dxF
        var dwF = [Float](repeating: 0.5, count: out * k), dwS = dwF  // backward adds into dW
        var dbF = [Float](repeating: 0, count: out), dbS = dbF
        TrainOps.linearBackward(dx: &dxF, accumulate: false, dW: &dwF, dBias: &dbF, dy: dy, x: x, weight: w, rows: n, out: out, in: k)
        TrainingReference.linearBackward(dx: &dxS, dW: &dwS, dBias: &dbS, dy: dy, x: x, weight: w, rows: n, out: out, in: k)
        XCTAssertLessThan(TrainingReferenceTests.errors(dxF, dxS).maxAbs, 1e-5)
        XCTAssertLessThan(TrainingReferenceTests.errors(dwF, dwS).maxAbs, 1e-5)
        XCTAssertLessThan(TrainingReferenceTests.errors(dbF, dbS).maxAbs, 1e-5)
    }

    func testLinearBackwardFiniteDifferences() {
        let n = 3, out = 4, k = 5
        check([random(n * k), random(out * k), random(out)], outputs: n * out, forward: { v in
            var y = [Float](repeating: 0, count: n * out)
            TrainingReference.linearForward(&y, v[0], rows: n, weight: v[1], out: out, in: k, bias: v[2])
            return y
        }, backward: { v, dy in
            var dx = [Float](repeating: 0, count: n * k), dw = [Float](repeating: 0, count: out * k), db = [Float](repeating: 0, count: out)
            TrainOps.linearBackward(dx: &dx, accumulate: false, dW: &dw, dBias: &db, dy: dy, x: v[0], weight: v[1], rows: n, out: out, in: k)
            return [dx, dw, db]
        })
    }

    func testRMSNormBackward() {
        let n = 3, d = 8
        check([random(n * d), random(d)], outputs: n * d, forward: { v in
            var y = [Float](repeating: 0, count: n * d), rstd = [Float](repeating: 0, count: n)
            TrainOps.rmsNormForward(&y, rstd: &rstd, v[0], weight: v[1], rows: n, dim: d, eps: 1e-5)
            return y
        }, backward: { v, dy in
            var y = [Float](repeating: 0, count: n * d), rstd = [Float](repeating: 0, count: n)
            TrainOps.rmsNormForward(&y, rstd: &rstd, v[0], weight: v[1], rows: n, dim: d, eps: 1e-5)
            var dx = [Float](repeating: 0, count: n * d), dw = [Float](repeating: 0, count: d)
            TrainOps.rmsNormBackward(dx: &dx, dw: &dw, dy: dy, x: v[0], weight: v[1], rstd: rstd, rows: n, dim: d)
            return [dx, dw]
        })
    }

    func testLayerNormBackward() {
        let n = 3, d = 8
        func fwd(_ v: [[Float]]) -> ([Float], [Float], [Float]) {
            var y = [Float](repeating: 0, count: n * d), mean = [Float](repeating: 0, count: n), rstd = mean
            TrainOps.layerNormForward(&y, mean: &mean, rstd: &rstd, v[0], weight: v[1], bias: v[2], rows: n, dim: d, eps: 1e-5)
            return (y, mean, rstd)
        }
        check([random(n * d), random(d), random(d)], outputs: n * d, forward: { fwd($0).0 }, backward: { v, dy in
            let (_, mean, rstd) = fwd(v)
            var dx = [Float](repeating: 0, count: n * d), dw = [Float](repeating: 0, count: d), db = dw
            TrainOps.layerNormBackward(dx: &dx, dw: &dw, db: &db, dy: dy, x: v[0], weight: v[1], mean: mean, rstd: rstd, rows: n, dim: d)
            return [dx, dw, db]
        })
    }

    func testRoPEBackwardBothLayouts() {
        let T = 5, heads = 2, hd = 8, n = 2 * T
        let table = RoPETable(positions: T, headDim: hd, theta: 10000)
        for interleaved in [false, true] {
            check([random(n * heads * hd)], outputs: n * heads * hd, forward: { v in
                var x = v[0]
                TrainOps.rope(&x, rows: n, seq: T, heads: heads, stride: heads * hd, table: table, interleaved: interleaved, inverse: false)
                return x
            }, backward: { _, dy in
                var d = dy
                TrainOps.rope(&d, rows: n, seq: T, heads: heads, stride: heads * hd, table: table, interleaved: interleaved, inverse: true)
                return [d]
            })
        }
    }

    func testCausalAttentionWithGroupedQueryHeadsBackward() {
        let B = 2, T = 4, heads = 4, kvHeads = 2, hd = 4, n = B * T
        let shape = TrainOps.AttentionShape(batch: B, seq: T, heads: heads, kvHeads: kvHeads, headDim: hd, qStride: heads * hd,
                                            kStride: kvHeads * hd, vStride: kvHeads * hd, outStride: heads * hd)
        func fwd(_ v: [[Float]]) -> ([Float], [Float]) {
            var out = [Float](repeating: 0, count: n * heads * hd), probs = [Float](repeating: 0, count: B * heads * T * T)
            TrainOps.attentionForward(out: &out, probs: &probs, q: v[0], k: v[1], v: v[2], shape: shape)
            return (out, probs)
        }
        check([random(n * heads * hd), random(n * kvHeads * hd), random(n * kvHeads * hd)], outputs: n * heads * hd,
              forward: { fwd($0).0 }, backward: { v, dy in
            let (_, probs) = fwd(v)
            var dq = [Float](repeating: 0, count: n * heads * hd), dk = [Float](repeating: 0, count: n * kvHeads * hd), dv = dk
            TrainOps.attentionBackward(dq: &dq, dk: &dk, dv: &dv, dout: dy, probs: probs, q: v[0], k: v[1], v: v[2], shape: shape)
            return [dq, dk, dv]
        })
    }

    /// The GEMM-based attention against its plain-loop reference, forward and backward, with GQA
    /// and a sequence length that is not a multiple of the GEMM tiles.
    func testAttentionMatchesNaiveReference() {
        let B = 2, T = 37, heads = 6, kvHeads = 2, hd = 16, n = B * T
        let shape = TrainOps.AttentionShape(batch: B, seq: T, heads: heads, kvHeads: kvHeads, headDim: hd, qStride: heads * hd,
                                            kStride: kvHeads * hd, vStride: kvHeads * hd, outStride: heads * hd)
        let q = random(n * heads * hd), k = random(n * kvHeads * hd), v = random(n * kvHeads * hd), dout = random(n * heads * hd)
        for precision in [TrainingPrecision.fp32, .bf16] {
            var outF = [Float](repeating: 0, count: n * heads * hd), outS = outF
            var pF = [Float](repeating: 0, count: B * heads * T * T), pS = pF
            TrainOps.attentionForward(out: &outF, probs: &pF, q: q, k: k, v: v, shape: shape, roundScores: precision)
            TrainingReference.attentionForward(out: &outS, probs: &pS, q: q, k: k, v: v, shape: shape, roundScores: precision)
            XCTAssertLessThan(TrainingReferenceTests.errors(outF, outS).maxAbs, precision == .fp32 ? 1e-5 : 2e-2, "\(precision)")
            XCTAssertLessThan(TrainingReferenceTests.errors(pF, pS).maxAbs, precision == .fp32 ? 1e-5 : 2e-2, "\(precision)")
        }
        var outF = [Float](repeating: 0, count: n * heads * hd), probs = [Float](repeating: 0, count: B * heads * T * T)
        TrainOps.attentionForward(out: &outF, probs: &probs, q: q, k: k, v: v, shape: shape)
        checkAttentionBackwardMatchesReference(dout: dout, probs: probs, q: q, k: k, v: v, shape: shape)
    }

    /// The GEMM form of the attention backward pass against the plain loops: dq, dk and dv
    /// (accumulated onto ones) within 1e-5.
    func checkAttentionBackwardMatchesReference(dout: [Float], probs: [Float], q: [Float], k: [Float], v: [Float],
                                                shape: TrainOps.AttentionShape, file: StaticString = #filePath, line: UInt = #line) {
        var dqF = [Float](repeating: 1, count: q.count), dkF = [Float](repeating: 1, count: k.count), dvF = [Float](repeating: 1, count: v.count)
        var dqS = dqF, dkS = dkF, dvS = dvF
        TrainOps.attentionBackward(dq: &dqF, dk: &dkF, dv: &dvF, dout: dout, probs: probs, q: q, k: k, v: v, shape: shape)
        TrainingReference.attentionBackward(dq: &dqS, dk: &dkS, dv: &dvS, dout: dout, probs: probs, q: q, k: k, v: v, shape: shape)
        XCTAssertLessThan(TrainingReferenceTests.errors(dqF, dqS).maxAbs, 1e-5, "dq", file: file, line: line)
        XCTAssertLessThan(TrainingReferenceTests.errors(dkF, dkS).maxAbs, 1e-5, "dk", file: file, line: line)
        XCTAssertLessThan(TrainingReferenceTests.errors(dvF, dvS).maxAbs, 1e-5, "dv", file: file, line: line)
    }

    /// A sliding window (Mistral's): the GEMM form against the plain loops, probabilities exactly
    /// zero outside the window, and the gradients against finite differences.
    func testSlidingWindowAttention() {
        let B = 2, T = 19, heads = 4, kvHeads = 2, hd = 8, n = B * T, window = 5
        let shape = TrainOps.AttentionShape(batch: B, seq: T, heads: heads, kvHeads: kvHeads, headDim: hd, qStride: heads * hd,
                                            kStride: kvHeads * hd, vStride: kvHeads * hd, outStride: heads * hd, window: window)
        let q = random(n * heads * hd), k = random(n * kvHeads * hd), v = random(n * kvHeads * hd), dout = random(n * heads * hd)
        var outF = [Float](repeating: 0, count: n * heads * hd), outS = outF
        var pF = [Float](repeating: 1, count: B * heads * T * T), pS = pF
        TrainOps.attentionForward(out: &outF, probs: &pF, q: q, k: k, v: v, shape: shape)
        TrainingReference.attentionForward(out: &outS, probs: &pS, q: q, k: k, v: v, shape: shape)
        XCTAssertLessThan(TrainingReferenceTests.errors(outF, outS).maxAbs, 1e-5)
        XCTAssertLessThan(TrainingReferenceTests.errors(pF, pS).maxAbs, 1e-5)
        for row in 0..<(B * heads * T) {
            let t = row % T
            for u in 0..<T where u > t || u <= t - window { XCTAssertEqual(pF[row * T + u], 0, "row \(row), key \(u)") }
            XCTAssertEqual(pF[(row * T + max(0, t - window + 1))...(row * T + t)].reduce(0, +), 1, accuracy: 1e-5)
        }
        checkAttentionBackwardMatchesReference(dout: dout, probs: pF, q: q, k: k, v: v, shape: shape)
        let small = TrainOps.AttentionShape(batch: 1, seq: 7, heads: 2, kvHeads: 1, headDim: 4, qStride: 8, kStride: 4, vStride: 4,
                                            outStride: 8, window: 3)
        func fwd(_ x: [[Float]]) -> ([Float], [Float]) {
            var out = [Float](repeating: 0, count: 7 * 8), probs = [Float](repeating: 0, count: 2 * 7 * 7)
            TrainOps.attentionForward(out: &out, probs: &probs, q: x[0], k: x[1], v: x[2], shape: small)
            return (out, probs)
        }
        check([random(7 * 8), random(7 * 4), random(7 * 4)], outputs: 7 * 8, forward: { fwd($0).0 }, backward: { x, dy in
            let (_, probs) = fwd(x)
            var dq = [Float](repeating: 0, count: 7 * 8), dk = [Float](repeating: 0, count: 7 * 4), dv = dk
            TrainOps.attentionBackward(dq: &dq, dk: &dk, dv: &dv, dout: dy, probs: probs, q: x[0], k: x[1], v: x[2], shape: small)
            return [dq, dk, dv]
        })
    }

    func testSwiGLUAndGELUBackward() {
        let n = 12
        check([random(n, scale: 3), random(n)], outputs: n, forward: { v in
            var h = [Float](repeating: 0, count: n)
            TrainOps.swigluForward(&h, gate: v[0], up: v[1], count: n)
            return h
        }, backward: { v, dy in
            var dg = [Float](repeating: 0, count: n), du = dg
            TrainOps.swigluBackward(dGate: &dg, dUp: &du, dh: dy, gate: v[0], up: v[1], count: n)
            return [dg, du]
        })
        check([random(n, scale: 3)], outputs: n, forward: { v in
            var y = [Float](repeating: 0, count: n)
            TrainOps.geluForward(&y, v[0], count: n)
            return y
        }, backward: { v, dy in
            var dx = [Float](repeating: 0, count: n)
            TrainOps.geluBackward(dx: &dx, dy: dy, x: v[0], count: n)
            return [dx]
        })
    }

    func testCrossEntropyBackward() {
        let T = 3, V = 7, ids = [1, 4, 2, 6, 0, 3]
        check([random(ids.count * V, scale: 2)], outputs: 1, forward: { v in
            var l = v[0]
            return [Float(TrainOps.crossEntropyForwardBackward(&l, ids: ids, seq: T, vocab: V, gradScale: 1, backward: false))]
        }, backward: { v, dy in
            var l = v[0]
            _ = TrainOps.crossEntropyForwardBackward(&l, ids: ids, seq: T, vocab: V, gradScale: dy[0])
            return [l]
        })
    }

    /// The whole model against finite differences (float32, so a loose check; the reference
    /// tests hold the tight one): a few weights of every kind in tiny-llama with interleaved
    /// RoPE (the layout the reference data does not cover).
    func testInterleavedRoPEModelGradientMatchesFiniteDifferences() throws {
        var model = try ModelLoader.load(path: try LLMOptTestSupportPaths.tinyLlama())
        model.config.ropeInterleaved = true
        let graph = try TrainingGraph(model: model)
        let ids = (0..<32).map { ($0 * 37 + 11) % 512 }
        _ = try graph.run(ids: ids, batch: 2, seq: 16)
        for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight", "model.layers.0.mlp.up_proj.weight"] {
            let g = graph.parameters.gradient(name)
            let i = g.indices.max { abs(g[$0]) < abs(g[$1]) }!
            var v = graph.parameters.values(name)
            let h: Float = 1e-2, x0 = v[i]
            v[i] = x0 + h; graph.parameters.setValues(name, v)
            let plus = try graph.run(ids: ids, batch: 2, seq: 16, backward: false)
            v[i] = x0 - h; graph.parameters.setValues(name, v)
            let minus = try graph.run(ids: ids, batch: 2, seq: 16, backward: false)
            v[i] = x0; graph.parameters.setValues(name, v)
            XCTAssertEqual((plus - minus) / Double(2 * h), Double(g[i]), accuracy: 0.02 * abs(Double(g[i])) + 1e-4, name)
        }
    }
}

import LLMOptTestSupport
enum LLMOptTestSupportPaths {
    static func tinyLlama() throws -> String { try SharedFiles.testdata("models/tiny-llama") }
}
