/// Structured pruning of attention heads: in every block the heads of lowest importance go,
/// taking their rows of q/k/v (and biases) and their columns of the output projection.
///
/// Importance of a query head: the Frobenius norm of its slice of the output projection
/// (o_proj / c_proj columns), i.e. how strongly what it attends to can move the residual stream.
/// With grouped-query attention a KV head is shared by H/KV query heads, so whole groups go
/// (a group's importance is the norm over all its query heads' columns): the ratio H/KV stays,
/// and every block keeps round((1 − s)·KV) groups, so `numHeads` and `numKVHeads` shrink in the config.
enum StructuredHeads {
    static func prune(_ model: Model, options: PruneOptions) throws -> (Model, PruneReport) {
        let layout = try BlockLayout(model)
        let cfg = model.config
        let hd = cfg.headDim
        let groups = cfg.numKVHeads
        guard groups > 0, cfg.numHeads % groups == 0 else {
            throw LLMOptError.unsupported("heads: \(cfg.numHeads) query heads do not split into \(groups) KV groups")
        }
        let perGroup = cfg.numHeads / groups
        let keepGroups = groups - Magnitude.pruneCount(sparsity: options.sparsity, of: groups)
        guard keepGroups > 0 else {
            throw LLMOptError.invalidArgument(name: "sparsity", reason: "\(options.sparsity) would remove every attention head")
        }
        var pruned = model
        var names: [String] = []
        for layer in 0..<cfg.numLayers {
            let p = layout.names.prefix(layer)
            let outName = p + layout.block.attentionOutput
            let out = try model.weight(outName).toF32()
            guard out.columns == cfg.numHeads * hd else {
                throw LLMOptError.shapeMismatch(name: outName, expected: [cfg.hiddenSize, cfg.numHeads * hd], actual: out.shape,
                                                source: model.sourcePath ?? "model")
            }
            let columnNorms = Structured.columnNorms(out)
            let groupWidth = perGroup * hd
            let importance = (0..<groups).map { g in
                columnNorms[(g * groupWidth)..<((g + 1) * groupWidth)].reduce(0) { $0 + $1 * $1 }
            }
            let keptGroups = Structured.topIndices(importance, keep: keepGroups)
            let queryRows = keptGroups.flatMap { g in (g * groupWidth)..<((g + 1) * groupWidth) }
            let kvRows = keptGroups.flatMap { g in (g * hd)..<((g + 1) * hd) }
            pruned.weights[outName] = try Structured.columns(try model.weight(outName), queryRows, name: outName)
            names.append(outName)

            // The projections that produce q, k and v, with the rows each head owns.
            let producers: [(String, [Int])]
            switch layout.block.attention {
            case let .separate(q, k, v):
                producers = [(p + q, queryRows), (p + k, kvRows), (p + v, kvRows)]
            case let .fused(qkv):
                // q, k and v stacked along the output rows.
                let d = cfg.numHeads * hd
                producers = [(p + qkv, queryRows + queryRows.map { $0 + d } + queryRows.map { $0 + 2 * d })]
            }
            for (weight, rows) in producers {
                for name in [weight, weight.replacingSuffix(".weight", with: ".bias")] {
                    guard let t = model.weights[name] else {
                        if name == weight { throw LLMOptError.missingTensor(name: name, source: model.sourcePath ?? "model") }
                        continue
                    }
                    pruned.weights[name] = Structured.rows(t, rows)
                    names.append(name)
                }
            }
        }
        pruned.config.numKVHeads = keepGroups
        pruned.config.numHeads = keepGroups * perGroup
        pruned.config.headDim = hd
        var report = Pruning.makeReport(method: "heads", options: options, before: model, after: pruned, names: names)
        report.notes += Structured.requantizedNote(before: model, after: pruned, names: names)
        report.notes.append("importance of a head: Frobenius norm of its output-projection columns"
            + (perGroup > 1 ? "; grouped-query attention: whole KV groups of \(perGroup) query heads removed" : ""))
        report.notes.append("heads per block: \(cfg.numHeads) -> \(pruned.config.numHeads) (KV \(groups) -> \(keepGroups))")
        return (pruned, report)
    }
}
