import Foundation

/// What one pruning call did, tensor by tensor. `rows` are plain data (for plots and the
/// language); `description` renders them as an aligned text table.
public struct PruneReport: Sendable, CustomStringConvertible {
    /// One pruned (or shrunk) tensor.
    public struct Row: Sendable, Equatable {
        public var name: String
        public var shapeBefore: [Int]
        public var shapeAfter: [Int]
        /// Zero values before and after pruning.
        public var zerosBefore: Int
        public var zerosAfter: Int
        public var bytesBefore: Int
        public var bytesAfter: Int

        public var countAfter: Int { shapeAfter.reduce(1, *) }
        public var countBefore: Int { shapeBefore.reduce(1, *) }
        /// Fraction of the tensor's current values that are zero.
        public var sparsity: Double { countAfter == 0 ? 0 : Double(zerosAfter) / Double(countAfter) }
        /// Values that are gone or zero now but were not before.
        public var parametersRemoved: Int { (countBefore - zerosBefore) - (countAfter - zerosAfter) }
    }

    public var method: String
    /// "layer" or "global" for unstructured methods, the pattern ("2:4") for N:M.
    public var scope: String
    public var sparsityRequested: Double
    public var rows: [Row]
    /// Tensors removed entirely (whole-layer pruning), with their byte counts.
    public var removedTensors: [(name: String, parameters: Int, bytes: Int)]
    /// Magnitude pruning with global scope: the largest |w| that was pruned.
    public var globalThreshold: Float?
    public var modelParametersBefore: Int
    public var modelParametersAfter: Int
    public var modelBytesBefore: Int
    public var modelBytesAfter: Int
    public var seconds: Double
    /// How importance was measured, for structured and calibration-based methods.
    public var notes: [String]

    /// Parameters in the pruned scope (the selected tensors; for whole-layer pruning, every
    /// tensor of the blocks) before pruning, and those still there and non-zero after.
    public var scopeParametersBefore: Int
    public var scopeParametersKept: Int

    /// Fraction of the scope's parameters that are zero or gone.
    public var overallSparsity: Double {
        scopeParametersBefore == 0 ? 0 : 1 - Double(scopeParametersKept) / Double(scopeParametersBefore)
    }

    public var parametersRemoved: Int {
        rows.reduce(0) { $0 + $1.parametersRemoved } + removedTensors.reduce(0) { $0 + $1.parameters }
    }

    public var description: String {
        var table: [[String]] = [["tensor", "shape", "sparsity", "removed", "bytes before", "bytes after"]]
        for r in rows {
            let shape = r.shapeBefore == r.shapeAfter
                ? r.shapeAfter.map(String.init).joined(separator: "x")
                : r.shapeBefore.map(String.init).joined(separator: "x") + " -> " + r.shapeAfter.map(String.init).joined(separator: "x")
            table.append([r.name, shape, String(format: "%.4f", r.sparsity), "\(r.parametersRemoved)",
                          "\(r.bytesBefore)", "\(r.bytesAfter)"])
        }
        for t in removedTensors {
            table.append([t.name, "removed", "-", "\(t.parameters)", "\(t.bytes)", "0"])
        }
        let widths = (0..<table[0].count).map { c in table.map { $0[c].count }.max() ?? 0 }
        let lines = table.map { cells in
            cells.enumerated().map { c, s in
                c == 0 ? s.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[c] - s.count) + s
            }.joined(separator: "  ")
        }
        var out = "prune \(method), scope \(scope), sparsity requested \(sparsityRequested)\n"
        out += lines.joined(separator: "\n") + "\n"
        out += String(format: "overall sparsity %.4f (%d of %d parameters in scope zero or removed)\n",
                      overallSparsity, scopeParametersBefore - scopeParametersKept, scopeParametersBefore)
        if let t = globalThreshold { out += "global threshold |w| <= \(t)\n" }
        out += "model: \(modelParametersBefore) -> \(modelParametersAfter) parameters, "
        out += "\(modelBytesBefore) -> \(modelBytesAfter) bytes; "
        out += String(format: "%.3f s", seconds)
        for n in notes { out += "\n" + n }
        return out
    }
}
