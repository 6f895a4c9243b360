import Foundation

/// Counts of values in equal-width bins between the tensor's minimum and maximum.
public struct Histogram: Sendable, Equatable {
    /// bins + 1 increasing edges; bin i holds values in [edges[i], edges[i+1]) (the last bin is closed).
    public let edges: [Double]
    public let counts: [Int]

    public var bins: Int { counts.count }

    /// One line per bin: its range, a bar of Unicode blocks proportional to its count, the count.
    public func render(barWidth: Int = 24, indent: String = "") -> String {
        let peak = max(1, counts.max() ?? 1)
        let eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        let rows = counts.indices.map { i -> [String] in
            let units = Int((Double(counts[i]) / Double(peak) * Double(barWidth * 8)).rounded())
            let bar = String(repeating: "█", count: units / 8) + eighths[units % 8]
            return [Format.value(edges[i]), "…", Format.value(edges[i + 1]), "│" + bar, Format.grouped(counts[i])]
        }
        return Format.table(rows, header: false, indent: indent)
    }
}

/// Summary statistics of a tensor's values (dequantized to float, accumulated in float64).
public struct TensorStats: Sendable, CustomStringConvertible {
    public let name: String?
    public let shape: [Int]
    public let dtype: DType
    public let bytes: Int
    public let count: Int
    public let min: Double
    public let max: Double
    public let mean: Double
    /// Population standard deviation.
    public let std: Double
    /// Euclidean norm of all values.
    public let l2: Double
    /// Fraction of values exactly zero (the sparsity pruning leaves).
    public let zeroFraction: Double
    /// Values farther than `outlierSigmas` standard deviations from the mean.
    public let outliers: Int
    public let outlierSigmas: Double
    public let histogram: Histogram

    public init(_ tensor: Tensor, name: String? = nil, bins: Int = 16, outlierSigmas: Double = 6) {
        self.name = name
        shape = tensor.shape
        dtype = tensor.dtype
        bytes = tensor.byteCount
        count = tensor.count
        self.outlierSigmas = outlierSigmas
        let rows = Swift.max(1, tensor.rows), cols = tensor.count / rows, rowBytes = tensor.byteCount / rows
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, cols))
        defer { buffer.deallocate() }
        /// Calls `body` with each row of values as float32.
        func forEachRow(_ body: (UnsafeBufferPointer<Float>) -> Void) {
            guard cols > 0 else { return }
            for r in 0..<rows {
                Dequantize.row(from: tensor.rawPointer + r * rowBytes, dtype: tensor.dtype, count: cols, into: buffer)
                body(UnsafeBufferPointer(start: buffer, count: cols))
            }
        }
        var lo = Double.infinity, hi = -Double.infinity, sum = 0.0, sumSq = 0.0, zeros = 0
        forEachRow { row in
            var rowSum = 0.0, rowSq = 0.0
            for v in row {
                let x = Double(v)
                rowSum += x
                rowSq += x * x
                if x < lo { lo = x }
                if x > hi { hi = x }
                if v == 0 { zeros += 1 }
            }
            sum += rowSum
            sumSq += rowSq
        }
        let n = Double(Swift.max(count, 1))
        mean = count > 0 ? sum / n : 0
        min = count > 0 ? lo : 0
        max = count > 0 ? hi : 0
        l2 = sumSq.squareRoot()
        zeroFraction = Double(zeros) / n
        // Second pass: the spread around the mean (exact, not E[x²] - E[x]²), outliers, histogram.
        var sq = 0.0
        forEachRow { row in for v in row { let d = Double(v) - sum / n; sq += d * d } }
        std = count > 0 ? (sq / n).squareRoot() : 0
        let bins = Swift.max(1, bins)
        let width = (max - min) / Double(bins)
        var counts = [Int](repeating: 0, count: bins)
        var far = 0
        let (mu, limit) = (mean, outlierSigmas * std)
        forEachRow { row in
            for v in row {
                let x = Double(v)
                if abs(x - mu) > limit && limit > 0 { far += 1 }
                let b = width > 0 ? Int((x - lo) / width) : 0
                counts[Swift.min(bins - 1, Swift.max(0, b))] += 1
            }
        }
        outliers = far
        let low = count > 0 ? lo : 0
        histogram = Histogram(edges: (0...bins).map { low + Double($0) * width }, counts: counts)
    }

    public var description: String { render() }

    /// Aligned lines of figures, then the histogram.
    public func render(barWidth: Int = 24) -> String {
        var lines: [String] = []
        if let name { lines.append(name) }
        let shapeText = shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: " × ")
        lines.append(Format.table([
            ["shape", shapeText, "dtype", dtype.rawValue, "bytes", Format.bytes(bytes)],
            ["count", Format.grouped(count), "zeros", Format.percent(zeroFraction),
             "outliers", "\(Format.grouped(outliers)) (>\(Format.value(outlierSigmas))σ)"],
            ["min", Format.value(min), "max", Format.value(max), "mean", Format.value(mean)],
            ["std", Format.value(std), "l2", Format.value(l2), "", ""],
        ], header: false, indent: "  "))
        lines.append("  histogram, \(histogram.bins) bins:")
        lines.append(histogram.render(barWidth: barWidth, indent: "    "))
        return lines.joined(separator: "\n")
    }
}
