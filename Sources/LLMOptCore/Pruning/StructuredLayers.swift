/// Whole-layer pruning: round(s·L) transformer blocks are removed and the rest renumbered
/// (`model.layers.5.*` becomes `model.layers.4.*` when one block before it went), and the
/// config's `numLayers` follows.
///
/// Which blocks go: those listed in `PruneOptions.layers` when given; otherwise the blocks just
/// before the last one. Gromov et al. (2024, "The Unreasonable Ineffectiveness of the Deeper
/// Layers") found the deep blocks, except the very last, change the residual stream least, so
/// they are the cheapest to drop without calibration.
enum StructuredLayers {
    static func prune(_ model: Model, options: PruneOptions) throws -> (Model, PruneReport) {
        let layout = try BlockLayout(model)
        let n = model.config.numLayers
        if let chosen = options.layers {
            if let bad = chosen.first(where: { $0 < 0 || $0 >= n }) {
                throw LLMOptError.invalidArgument(name: "layers", reason: "layer \(bad) does not exist (the model has \(n))")
            }
            return try remove(model, layout: layout, removed: Array(Set(chosen)).sorted(), options: options, how: "chosen by the caller")
        }
        let count = Magnitude.pruneCount(sparsity: options.sparsity, of: n)
        guard count < n else {
            throw LLMOptError.invalidArgument(name: "sparsity", reason: "\(options.sparsity) would remove all \(n) layers")
        }
        let removed = count == 0 ? [] : Array((n - 1 - count)..<(n - 1))
        return try remove(model, layout: layout, removed: removed, options: options,
                          how: "removed the \(count) blocks before the last (Gromov et al. 2024)")
    }

    static func remove(_ model: Model, layout: BlockLayout, removed: [Int], options: PruneOptions, how: String) throws -> (Model, PruneReport) {
        guard removed.count < model.config.numLayers else {
            throw LLMOptError.invalidArgument(name: "layers", reason: "cannot remove all \(model.config.numLayers) layers")
        }
        let gone = Set(removed)
        var newIndex: [Int: Int] = [:]
        for l in 0..<model.config.numLayers where !gone.contains(l) { newIndex[l] = newIndex.count }
        var pruned = model
        pruned.weights = [:]
        pruned.weightOrder = []
        var removedNames: [String] = []
        for name in model.weightOrder {
            guard let t = model.weights[name] else { continue }
            var newName = name
            if let (layer, rest) = layout.split(name) {
                guard let target = newIndex[layer] else { removedNames.append(name); continue }
                newName = layout.names.prefix(target) + rest
            }
            pruned.weights[newName] = t
            pruned.weightOrder.append(newName)
        }
        pruned.config.numLayers = newIndex.count
        var report = Pruning.makeReport(method: "layers", options: options, before: model, after: pruned, names: [], removed: removedNames)
        // The scope of whole-layer pruning is every tensor of every block.
        let blockParameters = model.weights.filter { layout.split($0.key) != nil }.reduce(0) { $0 + $1.value.count }
        report.scopeParametersBefore = blockParameters
        report.scopeParametersKept = blockParameters - report.removedTensors.reduce(0) { $0 + $1.parameters }
        report.notes.append("removed layers \(removed) of \(model.config.numLayers): \(how); the rest renumbered")
        return (pruned, report)
    }
}
