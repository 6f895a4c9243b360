import CLLMOptKernels
import Foundation

/// Importance-weighted block quantization, as llama.cpp's imatrix: calibration text gives each
/// linear layer's mean squared input per channel, E[x_j²], and a block's scale is chosen to
/// minimise Σ_j E[x_j²]·(w_j − d·q_j)² instead of the plain error Σ_j (w_j − d·q_j)². Under the
/// diagonal approximation of the layer's Hessian that weighted error is the expected squared
/// error of the layer's output, which is what the model feels. Q4_0/Q8_0 search each block's
/// scale here; Q2_K, Q4_K and Q5_K pass the importance into their sub-block searches in the C
/// kernels (llama.cpp's quant_weights). The bytes are ordinary blocks of the format: the kernels,
/// the writers and llama.cpp read them as any other. (Q3_K, Q6_K and the 5-bit blocks keep their
/// reference quantizers.)
public enum ImportanceMatrix {
    /// Mean x_j² at the input of each of `names`, over the calibration windows.
    public static func collect(_ model: Model, names: [String], calibration: Calibration?) throws -> [String: [Float]] {
        let pass = try CalibrationPass(model: model, calibration: calibration, method: "imatrix")
        let stats = try LayerInputStatistics.collect(model: model, names: Set(names), samples: pass.windows)
        var result: [String: [Float]] = [:]
        for name in names {
            guard let e = stats.entries[name] else { continue }
            let n = e.columns, count = Float(max(e.tokens, 1))
            result[name] = (0..<n).map { e.hessian[$0 * n + $0] / count }
        }
        return result
    }

    /// Whether `dtype` has an importance-weighted quantizer here.
    public static func handles(_ dtype: DType) -> Bool { [.q8_0, .q4_0, .q2_k, .q4_k, .q5_k].contains(dtype) }

    /// Blocks of `tensor` in `dtype` whose scales minimise the importance-weighted error.
    public static func quantize(_ tensor: Tensor, to dtype: DType, importance: [Float], name: String) throws -> Tensor {
        guard handles(dtype) else {
            throw LLMOptError.unsupported("importance-weighted \(dtype.ggmlName): Q8_0, Q4_0, Q2_K, Q4_K and Q5_K have it")
        }
        guard GGMLBlocks.fits(tensor, dtype) else {
            throw LLMOptError.invalidArgument(name: name, reason: "rows of \(tensor.columns) values are not a whole number of \(dtype.ggmlName) blocks of \(dtype.blockSize)")
        }
        guard importance.count == tensor.columns else {
            throw LLMOptError.shapeMismatch(name: name, expected: [tensor.columns], actual: [importance.count], source: "importance matrix")
        }
        let w = tensor.toF32()
        try RoundToNearest.checkFinite(w, name: name)
        let cols = w.columns, src = w.f32Pointer, rowBytes = dtype.byteCount(elements: cols)!
        if let wtype = dtype.format.kernelType, dtype.blockSize == 256 {
            // Channels nobody reads still count a little, so no sub-block's weights are all zero.
            let mean = importance.reduce(0, +) / Float(cols)
            let weights = importance.map { $0 + 1e-6 * mean + 1e-30 }
            return Tensor.raw(shape: w.shape, dtype: dtype) { out in
                let base = out.baseAddress!
                Parallel.forRanges(w.rows, grain: 4) { range in
                    for r in range { _ = llmopt_kquant_quantize_row_weighted(wtype, Int32(cols), src + r * cols, weights, base + r * rowBytes) }
                }
            }
        }
        return Tensor.raw(shape: w.shape, dtype: dtype) { out in
            let base = out.baseAddress!
            importance.withUnsafeBufferPointer { imp in
                Parallel.forRanges(w.rows, grain: 16) { range in
                    for r in range {
                        for b in 0..<(cols / 32) {
                            let block = base + r * rowBytes + b * dtype.blockBytes
                            quantizeBlock(src + r * cols + b * 32, importance: imp.baseAddress! + b * 32, dtype: dtype, into: block)
                        }
                    }
                }
            }
        }
    }

    /// One block of 32: candidate scales around the plain one (the extreme value over each
    /// candidate code range), codes rounded for each, the least-squares scale for those codes
    /// d = Σ e·q·w / Σ e·q², and the candidate with the least weighted error kept. The plain
    /// scale is among the candidates, so the weighted error never exceeds the plain quantizer's.
    static func quantizeBlock(_ x: UnsafePointer<Float>, importance: UnsafePointer<Float>, dtype: DType, into block: UnsafeMutableRawPointer) {
        let (lowest, highest): (Int, Int) = dtype == .q4_0 ? (-8, 7) : (-127, 127)
        var amax: Float = 0, signedMax: Float = 0
        for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); signedMax = x[j] }
        // Channels nobody reads still count a little, so an all-zero importance gives the plain scale.
        var e = [Float](repeating: 0, count: 32)
        var meanImportance: Float = 0
        for j in 0..<32 { meanImportance += importance[j] / 32 }
        for j in 0..<32 { e[j] = importance[j] + 1e-6 * meanImportance + 1e-30 }
        var codes = [Int](repeating: 0, count: 32), bestCodes = codes
        var bestScale: Float = 0, bestError = Float.infinity
        if amax > 0 {
            // The plain rule first (Q4_0: the extreme maps to −8; Q8_0: amax / 127), then nearby ranges.
            let plain: Float = dtype == .q4_0 ? signedMax / -8 : amax / 127
            let steps: [Float] = dtype == .q4_0 ? stride(from: -1.0, through: 1.0, by: 0.125).map { Float($0) } : [-1, -0.5, 0, 0.5, 1]
            var candidates = [plain]
            for s in steps where s != 0 {
                let top = dtype == .q4_0 ? -8 + s : 127 + s
                candidates.append((dtype == .q4_0 ? signedMax : amax) / top)
            }
            for (c, trial) in candidates.enumerated() {
                let inverse = 1 / trial
                var sumQX: Float = 0, sumQQ: Float = 0
                for j in 0..<32 {
                    let q = max(lowest, min(highest, Int((x[j] * inverse).rounded(.toNearestOrAwayFromZero))))
                    codes[j] = q
                    sumQX += e[j] * Float(q) * x[j]
                    sumQQ += e[j] * Float(q * q)
                }
                // The plain candidate keeps the plain scale; the others take the least-squares one.
                let scale = c == 0 ? trial : (sumQQ > 0 ? sumQX / sumQQ : 0)
                let stored = Float(Float16(scale))
                var error: Float = 0
                for j in 0..<32 {
                    let diff = x[j] - stored * Float(codes[j])
                    error += e[j] * diff * diff
                }
                if error < bestError { bestError = error; bestScale = stored; bestCodes = codes }
            }
        }
        block.storeBytes(of: Float16(bestScale).bitPattern, toByteOffset: 0, as: UInt16.self)
        if dtype == .q4_0 {
            for j in 0..<16 {
                block.storeBytes(of: UInt8((bestCodes[j] + 8) | (bestCodes[j + 16] + 8) << 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        } else {
            for j in 0..<32 { block.storeBytes(of: Int8(bestCodes[j]), toByteOffset: 2 + j, as: Int8.self) }
        }
    }
}
