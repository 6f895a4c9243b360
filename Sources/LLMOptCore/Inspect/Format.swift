import Foundation

/// Human-readable numbers for reports: sensible precision and units.
public enum Format {
    /// Bytes in binary units, as llama.cpp and memory reports give them: `512 B`, `93.8 MiB`,
    /// `1.15 GiB`. Every size llmopt shows (command line and language) comes from here.
    public static func bytes(_ n: Int) -> String {
        let v = Double(n)
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var x = v / 1024, i = 0
        while x >= 1024 && i < units.count - 1 { x /= 1024; i += 1 }
        return String(format: x < 10 ? "%.2f %@" : "%.1f %@", x, units[i])
    }

    /// `bytes(n)` right-aligned in `width` columns, for lines of figures.
    public static func bytes(_ n: Int, width: Int) -> String {
        let s = bytes(n)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }

    /// Counts with a unit suffix: `950`, `260.1K`, `135.0M`, `1.24B`.
    public static func count(_ n: Int) -> String {
        let v = Double(n)
        switch abs(v) {
        case ..<1000: return "\(n)"
        case ..<1e6: return String(format: "%.1fK", v / 1e3)
        case ..<1e9: return String(format: "%.1fM", v / 1e6)
        default: return String(format: "%.2fB", v / 1e9)
        }
    }

    /// Integers with thousands separators: `331,776`.
    public static func grouped(_ n: Int) -> String {
        let s = String(abs(n))
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    /// A float with four significant digits (whole numbers as they are), in scientific notation
    /// when very small or large.
    public static func value(_ x: Double) -> String {
        if x == 0 { return "0" }
        if !x.isFinite { return "\(x)" }
        let a = abs(x)
        if x == x.rounded() && a < 1e9 { return String(Int(x)) }
        if a >= 1e-3 && a < 1e5 { return String(format: "%.4g", x) }
        return String(format: "%.3e", x)
    }

    /// A fraction as a percentage: `12.34%`.
    public static func percent(_ f: Double) -> String { String(format: "%.2f%%", 100 * f) }

    /// Rows of cells as aligned columns; numbers align right, except in the header row.
    public static func table(_ rows: [[String]], header: Bool = true, indent: String = "") -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func looksNumeric(_ s: String) -> Bool { s.first.map { $0.isNumber || $0 == "-" } ?? false }
        var lines: [String] = []
        for (ri, r) in rows.enumerated() {
            let cells = r.enumerated().map { i, c -> String in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return (ri > 0 || !header) && looksNumeric(c) ? pad + c : c + pad
            }
            lines.append(indent + cells.joined(separator: "  ").trimmingTrailingSpaces())
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
