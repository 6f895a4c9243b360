// TEMPORARY: the previous SparseGPT calibration (a forward pass per block), for the before/after measurement.
import Foundation

enum TEMPSparseGPTRerun {
    static func run(_ pass: CalibrationPass, _ model: Model, names: Set<String>,
                    observe: @escaping (_ name: String, _ x: UnsafePointer<Float>, _ rows: Int, _ cols: Int, _ sameAsPrevious: Bool) -> Void) throws {
        let session = try InferenceSession(model: model, capacity: pass.longestWindow)
        var seen = Set<String>()
        var previous: (x: UnsafePointer<Float>, rows: Int, cols: Int)?
        session.linearInputObserver = { name, x, rows, cols in
            let same = previous.map { $0.x == x && $0.rows == rows && $0.cols == cols } ?? false
            previous = (x, rows, cols)
            guard names.contains(name) else { return }
            seen.insert(name)
            observe(name, x, rows, cols, same)
        }
        session.isCancelled = { seen.count == names.count }
        for window in pass.windows {
            session.reset()
            seen.removeAll()
            previous = nil
            do { _ = try session.forward(window) } catch LLMOptError.cancelled { continue }
        }
    }

    static func prune(_ model: Model, names: [String], options: PruneOptions) throws -> [String: Tensor] {
        let pass = try CalibrationPass(model: model, calibration: options.calibration, method: "sparsegpt")
        let layout = try BlockLayout(model)
        var byLayer: [Int: [String]] = [:]
        for name in names { byLayer[layout.split(name)!.layer, default: []].append(name) }
        var current = model
        var result: [String: Tensor] = [:]
        for layer in byLayer.keys.sorted() {
            let layerNames = byLayer[layer]!
            var entries: [String: LayerInputStatistics.Entry] = [:]
            var previous: LayerInputStatistics.Entry?
            try run(pass, current, names: Set(layerNames)) { name, x, rows, cols, sameAsPrevious in
                if sameAsPrevious, let shared = previous, shared.columns == cols, entries[name] == nil || entries[name] === shared {
                    entries[name] = shared
                    return
                }
                let entry = entries[name] ?? LayerInputStatistics.Entry(columns: cols)
                entry.add(x, rows: rows)
                entries[name] = entry
                previous = entry
            }
            var factors: [ObjectIdentifier: SparseGPT.InverseFactor] = [:]
            for name in layerNames {
                let entry = entries[name]!
                let factor = try factors[ObjectIdentifier(entry)] ?? SparseGPT.InverseFactor(
                    hessian: entry.hessian.map(Double.init), columns: entry.columns, dampening: options.dampening, name: name)
                factors[ObjectIdentifier(entry)] = factor
                let pruned = try SparseGPT.prune(name, weight: try current.weight(name), factor: factor, sparsity: options.sparsity,
                                                 pattern: options.pattern, blockSize: options.blockSize)
                result[name] = pruned
                current.weights[name] = pruned
            }
        }
        return result
    }
}
