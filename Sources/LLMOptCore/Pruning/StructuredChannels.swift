/// Structured pruning of feed-forward channels: the intermediate channels of lowest importance
/// are removed from every block, so gate/up (GPT-2: c_fc and its bias) lose rows and down
/// (c_proj) loses columns. The matrices really shrink; the config's `intermediateSize` follows.
///
/// Importance of channel c, with a calibration text (the default whenever one is given):
/// ‖a_c‖₂ · ‖down_{·,c}‖₂, where a_c is the channel's activation (the input of down/c_proj,
/// silu(gate x)·up x or gelu(fc x)) over every calibration token of the dense model: exactly the
/// L2 norm of what the channel adds to the block's output on that data (Wanda's score summed
/// over a column, as in LLM-Pruner's channel importance). Real models have a few channels whose
/// activations are orders of magnitude larger than their weights suggest (SmolLM2-135M: removing
/// 10% of channels by weight norms alone took perplexity from 29 to 15,000), so calibration
/// matters here.
///
/// Without calibration: ‖gate_c‖₂ · ‖up_c‖₂ · ‖down_{·,c}‖₂ for Llama's SwiGLU and
/// ‖fc_c‖₂ · ‖proj_{·,c}‖₂ for GPT-2, the size of the path a unit input takes through the
/// channel. Each block keeps round((1 − s)·I) channels, in their original order.
enum StructuredChannels {
    static func prune(_ model: Model, options: PruneOptions) throws -> (Model, PruneReport) {
        let layout = try BlockLayout(model)
        var pruned = model
        var names: [String] = []
        var kept = -1
        let activationNorms = try options.calibration == nil ? nil : channelActivationNorms(model, layout: layout, options: options)
        for layer in 0..<model.config.numLayers {
            let (inputs, output) = layout.ffn(layer)
            let inTensors = try inputs.map { try model.weight($0).toF32() }
            let outTensor = try model.weight(output).toF32()
            let channels = inTensors[0].shape[0]
            let keep = channels - Magnitude.pruneCount(sparsity: options.sparsity, of: channels)
            guard keep > 0 else {
                throw LLMOptError.invalidArgument(name: "sparsity", reason: "\(options.sparsity) would remove every channel of \(output)")
            }
            var importance = [Double](repeating: 1, count: channels)
            if let norms = activationNorms?[output] {
                guard norms.count == channels else {
                    throw LLMOptError.shapeMismatch(name: output, expected: [outTensor.rows, channels], actual: [outTensor.rows, norms.count], source: "calibration")
                }
                importance = norms
            } else {
                for t in inTensors {
                    let norms = Structured.rowNorms(t)
                    for c in 0..<channels { importance[c] *= norms[c] }
                }
            }
            let outNorms = Structured.columnNorms(outTensor)
            for c in 0..<channels { importance[c] *= outNorms[c] }
            let keepIndices = Structured.topIndices(importance, keep: keep)
            for name in inputs {
                pruned.weights[name] = Structured.rows(try model.weight(name), keepIndices)
                names.append(name)
                let bias = name.replacingSuffix(".weight", with: ".bias")
                if let b = model.weights[bias] {
                    pruned.weights[bias] = Structured.rows(b, keepIndices)
                    names.append(bias)
                }
            }
            pruned.weights[output] = try Structured.columns(try model.weight(output), keepIndices, name: output)
            names.append(output)
            kept = kept < 0 || kept == keep ? keep : -2
        }
        if kept > 0 { pruned.config.intermediateSize = kept }
        var report = Pruning.makeReport(method: "channels", options: options, before: model, after: pruned, names: names)
        report.notes += Structured.requantizedNote(before: model, after: pruned, names: names)
        let b = layout.block
        /// `mlp.down_proj.weight` → `down`, `mlp.c_fc.weight` → `c_fc`.
        func short(_ suffix: String) -> String {
            let part = String(suffix.split(separator: ".").dropLast().last ?? "")
            return part.hasSuffix("_proj") && part.count > 6 ? String(part.dropLast(5)) : part
        }
        let output = short(b.mlpOutput)
        if activationNorms != nil {
            report.notes.append("importance of channel c: |a_c| * |\(output)[:, c]| (L2 norms; a = \(b.mlpActivation) over the calibration tokens)")
        } else {
            let inputs = b.mlpInputs.map { "|\(short($0))_c|" }.joined(separator: " * ")
            report.notes.append("importance of channel c: \(inputs) * |\(output)[:, c]| (L2 norms; no calibration text)")
            report.notes.append("weight norms cannot see channels with outsized activations and may remove them: pass a calibration text for real models")
        }
        return (pruned, report)
    }

    /// ‖a_c‖₂ over every calibration token for each block's FFN output projection: the column
    /// norms of that projection's input in one pass over the dense model.
    static func channelActivationNorms(_ model: Model, layout: BlockLayout, options: PruneOptions) throws -> [String: [Double]] {
        let pass = try CalibrationPass(model: model, calibration: options.calibration, method: "channels")
        let names = (0..<model.config.numLayers).map { layout.ffn($0).output }
        var sumSquares: [String: [Double]] = [:]
        try pass.run(model, names: Set(names)) { name, x, rows, cols, _ in
            var s = sumSquares[name] ?? [Double](repeating: 0, count: cols)
            for r in 0..<rows { for c in 0..<cols { let v = Double(x[r * cols + c]); s[c] += v * v } }
            sumSquares[name] = s
        }
        if let missing = names.first(where: { sumSquares[$0] == nil }) {
            throw LLMOptError.unsupported("channels: the forward pass never used '\(missing)', so it cannot be calibrated")
        }
        return sumSquares.mapValues { $0.map { $0.squareRoot() } }
    }
}

/// The names of the weights of a model's blocks, from its family's description.
struct BlockLayout {
    let names: TensorNameMap
    let block: BlockTopology

    init(_ model: Model) throws {
        let family = model.config.architecture.family
        names = family.names
        block = family.block
        guard model.config.numLayers > 0 else { throw LLMOptError.unsupported("the model has no layers to prune") }
    }

    /// The FFN's input projections (one row per channel) and its output projection (one column per channel).
    func ffn(_ layer: Int) -> (inputs: [String], output: String) {
        let p = names.prefix(layer)
        return (block.mlpInputs.map { p + $0 }, p + block.mlpOutput)
    }

    /// The layer index of a tensor name inside a block, and the rest of the name.
    func split(_ name: String) -> (layer: Int, rest: String)? {
        names.split(name).map { ($0.layer, $0.suffix) }
    }
}

/// Row and column selection shared by the structured methods.
enum Structured {
    static func rowNorms(_ t: Tensor) -> [Double] {
        let (r, c) = (t.rows, t.columns)
        let p = t.f32Pointer
        return (0..<r).map { i in
            var s = 0.0
            for j in 0..<c { let v = Double(p[i * c + j]); s += v * v }
            return s.squareRoot()
        }
    }

    static func columnNorms(_ t: Tensor) -> [Double] {
        let (r, c) = (t.rows, t.columns)
        let p = t.f32Pointer
        var s = [Double](repeating: 0, count: c)
        for i in 0..<r { for j in 0..<c { let v = Double(p[i * c + j]); s[j] += v * v } }
        return s.map { $0.squareRoot() }
    }

    /// The indices of the `keep` largest scores, in increasing index order (ties keep the earlier).
    static func topIndices(_ scores: [Double], keep: Int) -> [Int] {
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return order.prefix(keep).sorted()
    }

    /// Says which matrices lost columns inside quantized blocks and were quantized again.
    static func requantizedNote(before: Model, after: Model, names: [String]) -> [String] {
        let requantized = names.filter { name in
            guard let a = before.weights[name], let b = after.weights[name] else { return false }
            return a.dtype.blockSize > 1 && a.dtype == b.dtype && a.columns != b.columns
        }
        guard let first = requantized.first else { return [] }
        return ["\(requantized.count) matrices lost columns inside \(before.weights[first]!.dtype.ggmlName) blocks and were quantized again "
            + "(their kept values move by up to one quantization step)"]
    }

    /// Rows `indices` of a tensor (1-D tensors: elements). Rows of block formats are whole
    /// blocks, so every dtype is copied byte for byte and keeps its dtype.
    static func rows(_ t: Tensor, _ indices: [Int]) -> Tensor {
        if t.dtype == .qgroup || (t.rank == 1 && t.dtype.blockSize > 1) { return rows(t.toF32(), indices) }
        let rowBytes = t.rank == 1 ? t.dtype.blockBytes : t.rowBytes
        let shape = t.rank == 1 ? [indices.count] : [indices.count] + t.shape.dropFirst()
        let src = t.rawPointer
        return Tensor.raw(shape: shape, dtype: t.dtype) { out in
            for (k, i) in indices.enumerated() { (out.baseAddress! + k * rowBytes).copyMemory(from: src + i * rowBytes, byteCount: rowBytes) }
        }
    }

    /// Columns `indices` of a matrix. Element types (f32, f16, bf16) keep their dtype exactly.
    /// Block formats cannot lose columns inside a block: the kept values are quantized again to
    /// the same ggml format when the new rows are whole blocks (so the model stays small; values
    /// move by up to a quantization step), and stay float32 otherwise.
    static func columns(_ t: Tensor, _ indices: [Int], name: String) throws -> Tensor {
        if t.dtype.blockSize > 1 || t.dtype == .qgroup {
            let sliced = try columns(t.toF32(), indices, name: name)
            guard t.dtype.format.quantizeRow != nil, GGMLBlocks.fits(sliced, t.dtype) else { return sliced }
            return try GGMLBlocks.quantize(sliced, to: t.dtype, name: name)
        }
        let (r, c, e) = (t.rows, t.columns, t.dtype.blockBytes)
        let src = t.rawPointer
        return Tensor.raw(shape: [r, indices.count], dtype: t.dtype) { out in
            let dst = out.baseAddress!
            for i in 0..<r {
                for (k, j) in indices.enumerated() {
                    (dst + (i * indices.count + k) * e).copyMemory(from: src + (i * c + j) * e, byteCount: e)
                }
            }
        }
    }
}

extension String {
    func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self
    }
}
