import Foundation

/// What a quantization did, tensor by tensor: the storage before and after (bytes as they truly
/// sit in memory, scales, zero points and row headers included), the weight error, whether
/// zeros (for example from pruning) survived, and notes such as block-format fallbacks.
public struct QuantReport: Sendable, CustomStringConvertible {
    public struct Row: Sendable {
        public let name: String
        public let shape: [Int]
        public let dtypeBefore: DType
        public let dtypeAfter: DType
        /// The grid or format, e.g. `int4 sym g32`, `Q4_0`, `F16`.
        public let format: String
        public let bytesBefore: Int
        public let bytesAfter: Int
        /// ‖W − Ŵ‖ / ‖W‖ (Frobenius), against the weights as they were before.
        public let relativeError: Double
        public let maxAbsError: Double
        /// Exact zeros in the weights before and after.
        public let zerosBefore: Int
        public let zerosAfter: Int
        /// Zeros of the original that are no longer exactly zero.
        public let zerosLost: Int
        public let note: String?
        /// For calibrated methods: ‖X(W − Ŵ)ᵀ‖ / ‖XWᵀ‖ on the calibration inputs, and the same
        /// for round-to-nearest on the same grid, for comparison.
        public let outputError: Double?
        public let outputErrorRTN: Double?
        /// ‖XWᵀ‖² on the calibration inputs, the denominator of the two above.
        public let outputSignal: Double?
        /// Σ(w − ŵ)² and Σw², in float64, for totals over many tensors.
        public let squaredError: Double
        public let squaredNorm: Double
    }

    public let scheme: String
    public let rows: [Row]
    /// Whole-model notes (calibration used, scale folding...).
    public let notes: [String]
    public let modelBytesBefore: Int
    public let modelBytesAfter: Int

    public var bytesBefore: Int { rows.reduce(0) { $0 + $1.bytesBefore } }
    public var bytesAfter: Int { rows.reduce(0) { $0 + $1.bytesAfter } }

    /// ‖W − Ŵ‖ / ‖W‖ over all quantized tensors together.
    public var overallRelativeError: Double {
        let norm2 = rows.reduce(0) { $0 + $1.squaredNorm }
        return norm2 > 0 ? (rows.reduce(0) { $0 + $1.squaredError } / norm2).squareRoot() : 0
    }

    public func row(_ name: String) -> Row? { rows.first { $0.name == name } }

    public var description: String {
        let calibrated = rows.contains { $0.outputError != nil }
        var table: [[String]] = [["tensor", "shape", "format", "bytes before", "bytes after", "rel err", "max err", "zeros kept"]
            + (calibrated ? ["out err", "out err RTN"] : [])]
        for r in rows {
            table.append([
                r.name, r.shape.map(String.init).joined(separator: "x"), r.format,
                String(r.bytesBefore), String(r.bytesAfter),
                String(format: "%.6f", r.relativeError), String(format: "%.3g", r.maxAbsError),
                r.zerosBefore == 0 ? "-" : "\(r.zerosBefore - r.zerosLost)/\(r.zerosBefore)",
            ] + (calibrated ? [r.outputError, r.outputErrorRTN].map { $0.map { String(format: "%.6f", $0) } ?? "-" } : []))
        }
        let widths = (0..<table[0].count).map { c in table.map { $0[c].count }.max() ?? 0 }
        var lines = ["quantize \(scheme): \(rows.count) tensors, \(bytesBefore) -> \(bytesAfter) bytes"
            + String(format: " (%.2fx), rel err %.6f", Double(bytesBefore) / Double(max(bytesAfter, 1)), overallRelativeError)
            + "; model \(modelBytesBefore) -> \(modelBytesAfter) bytes"]
        for (i, line) in table.enumerated() {
            lines.append(line.enumerated().map { c, cell in
                c <= 2 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  "))
            if i == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        for r in rows { if let note = r.note { lines.append("note: \(r.name): \(note)") } }
        for note in notes { lines.append("note: \(note)") }
        return lines.joined(separator: "\n")
    }
}

extension QuantReport.Row {
    /// Compares `before` and `after` value by value; `stored` (default `after`) is what the
    /// model keeps, for its dtype and bytes (AWQ stores Q(W·s) while the layer computes Q(W·s)/s).
    init(name: String, before: Tensor, after: Tensor, stored: Tensor? = nil, format: String, note: String?,
         outputError: Double? = nil, outputErrorRTN: Double? = nil, outputSignal: Double? = nil) {
        let stored = stored ?? after
        let a = before.floats(), b = after.floats()
        var diff2 = 0.0, norm2 = 0.0, maxErr = 0.0
        var zerosBefore = 0, zerosAfter = 0, lost = 0
        for i in 0..<a.count {
            let d = Double(a[i]) - Double(b[i])
            diff2 += d * d
            norm2 += Double(a[i]) * Double(a[i])
            maxErr = max(maxErr, abs(d))
            if a[i] == 0 { zerosBefore += 1; if b[i] != 0 { lost += 1 } }
            if b[i] == 0 { zerosAfter += 1 }
        }
        self.init(name: name, shape: before.shape, dtypeBefore: before.dtype, dtypeAfter: stored.dtype, format: format,
                  bytesBefore: before.byteCount, bytesAfter: stored.byteCount,
                  relativeError: norm2 > 0 ? (diff2 / norm2).squareRoot() : diff2.squareRoot(),
                  maxAbsError: maxErr, zerosBefore: zerosBefore, zerosAfter: zerosAfter, zerosLost: lost, note: note,
                  outputError: outputError, outputErrorRTN: outputErrorRTN, outputSignal: outputSignal,
                  squaredError: diff2, squaredNorm: norm2)
    }
}
