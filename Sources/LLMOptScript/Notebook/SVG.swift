import Foundation
import LLMOptCore

/// SVG drawings of histograms and plots, sized for a notebook column.
enum SVG {
    static let palette = ["#2f6fde", "#e8590c", "#2b8a3e", "#ae3ec9", "#d6336c", "#0b7285", "#868e96"]

    private static func n(_ x: Double) -> String { String(format: "%.1f", x) }
    private static func esc(_ s: String) -> String { HTMLNotebook.escape(s) }

    /// Bars of a histogram with the value range and counts on the axes.
    static func histogram(_ h: Histogram, width: Double = 520, height: Double = 150) -> String {
        let (left, right, top, bottom) = (44.0, 12.0, 10.0, 26.0)
        let plotW = width - left - right, plotH = height - top - bottom
        let peak = Double(max(1, h.counts.max() ?? 1))
        let barW = plotW / Double(max(1, h.counts.count))
        let (low, high) = (h.edges.first ?? 0, h.edges.last ?? 0)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" aria-label=\"histogram\">"
        s += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\"/>"
        for (i, c) in h.counts.enumerated() where c > 0 {
            let bh = max(1, Double(c) / peak * plotH)
            s += "<rect x=\"\(n(left + Double(i) * barW + 0.5))\" y=\"\(n(top + plotH - bh))\" width=\"\(n(max(1, barW - 1)))\" height=\"\(n(bh))\" fill=\"#2f6fde\" fill-opacity=\"0.85\"><title>\(c)</title></rect>"
        }
        // Zero, when inside the range, is where pruning and quantization act.
        if low < 0, high > 0 {
            let x = left + (0 - low) / (high - low) * plotW
            s += "<line x1=\"\(n(x))\" y1=\"\(n(top))\" x2=\"\(n(x))\" y2=\"\(n(top + plotH))\" stroke=\"#d6336c\" stroke-dasharray=\"3,3\"/>"
        }
        s += "<line x1=\"\(n(left))\" y1=\"\(n(top + plotH))\" x2=\"\(n(left + plotW))\" y2=\"\(n(top + plotH))\" stroke=\"#5f6b7a\"/>"
        s += "<line x1=\"\(n(left))\" y1=\"\(n(top))\" x2=\"\(n(left))\" y2=\"\(n(top + plotH))\" stroke=\"#5f6b7a\"/>"
        s += label(left, top + plotH + 16, format4(low), anchor: "start")
        s += label(left + plotW, top + plotH + 16, format4(high), anchor: "end")
        s += label(left - 6, top + 8, String(Int(peak)), anchor: "end")
        s += label(left - 6, top + plotH, "0", anchor: "end")
        return s + "</svg>"
    }

    private static func label(_ x: Double, _ y: Double, _ text: String, anchor: String, size: Int = 11, color: String = "#5f6b7a", extra: String = "") -> String {
        "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(size)\" fill=\"\(color)\" text-anchor=\"\(anchor)\"\(extra)>\(esc(text))</text>"
    }

    /// Round tick values from below `lo` to above `hi`: steps of 1, 2 or 5 times a power of ten.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var t = floor(lo / step + 1e-9) * step
        let end = ceil(hi / step - 1e-9) * step
        while t <= end + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    /// Lines, points or bars for every series, with axes, ticks, labels and a legend.
    static func plot(_ p: Plot, width: Double = 640, height: Double = 360) -> String {
        let legend = p.series.count > 1 || p.series.contains { !$0.name.isEmpty }
        let (left, right, top, bottom) = (64.0, legend ? 130.0 : 20.0, p.title.isEmpty ? 16.0 : 36.0, 48.0)
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = p.series.flatMap(\.x), ys = p.series.flatMap(\.y)
        var (xlo, xhi) = (xs.min() ?? 0, xs.max() ?? 1)
        var (ylo, yhi) = (ys.min() ?? 0, ys.max() ?? 1)
        if p.style == .bar { ylo = min(0, ylo); yhi = max(0, yhi) }
        if xlo == xhi { xlo -= 1; xhi += 1 }
        if ylo == yhi { ylo -= 1; yhi += 1 }
        let yTicks = ticks(ylo, yhi), xTicks = ticks(xlo, xhi)
        ylo = min(ylo, yTicks.first ?? ylo); yhi = max(yhi, yTicks.last ?? yhi)
        if p.style != .bar {
            // A little room so the first and last points do not sit on the frame.
            let pad = (xhi - xlo) * 0.03
            xlo -= pad; xhi += pad
        }
        // Bars need half a slot of room on each side.
        let categories = Set(xs).sorted()
        if p.style == .bar {
            let slot = categories.count > 1 ? (zip(categories, categories.dropFirst()).map { $1 - $0 }.min() ?? 1) : 1
            xlo -= slot / 2; xhi += slot / 2
        }
        func px(_ x: Double) -> Double { left + (x - xlo) / (xhi - xlo) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (y - ylo) / (yhi - ylo) * plotH }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" aria-label=\"\(esc(p.title.isEmpty ? "plot" : p.title))\">"
        s += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\"/>"
        if !p.title.isEmpty { s += label(left + plotW / 2, 22, p.title, anchor: "middle", size: 14, color: "#1d2433", extra: " font-weight=\"600\"") }
        for t in yTicks where t >= ylo && t <= yhi {
            s += "<line x1=\"\(n(left))\" y1=\"\(n(py(t)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(py(t)))\" stroke=\"#e3e7ee\"/>"
            s += label(left - 8, py(t) + 4, format4(t), anchor: "end")
        }
        let xTickValues = p.style == .bar && categories.count <= 24 ? categories : xTicks.filter { $0 >= xlo && $0 <= xhi }
        for t in xTickValues {
            s += "<line x1=\"\(n(px(t)))\" y1=\"\(n(top + plotH))\" x2=\"\(n(px(t)))\" y2=\"\(n(top + plotH + 4))\" stroke=\"#5f6b7a\"/>"
            s += label(px(t), top + plotH + 17, format4(t), anchor: "middle")
        }
        s += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotW))\" height=\"\(n(plotH))\" fill=\"none\" stroke=\"#5f6b7a\"/>"
        if !p.xLabel.isEmpty { s += label(left + plotW / 2, height - 8, p.xLabel, anchor: "middle", size: 12, color: "#1d2433") }
        if !p.yLabel.isEmpty {
            s += label(16, top + plotH / 2, p.yLabel, anchor: "middle", size: 12, color: "#1d2433", extra: " transform=\"rotate(-90 16 \(n(top + plotH / 2)))\"")
        }
        let seriesCount = Double(max(1, p.series.count))
        for (k, series) in p.series.enumerated() {
            let color = palette[k % palette.count]
            switch p.style {
            case .line:
                let points = zip(series.x, series.y).map { "\(n(px($0))),\(n(py($1)))" }.joined(separator: " ")
                s += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>"
                for (x, y) in zip(series.x, series.y) { s += "<circle cx=\"\(n(px(x)))\" cy=\"\(n(py(y)))\" r=\"3\" fill=\"\(color)\"><title>\(format4(x)), \(format4(y))</title></circle>" }
            case .scatter:
                for (x, y) in zip(series.x, series.y) { s += "<circle cx=\"\(n(px(x)))\" cy=\"\(n(py(y)))\" r=\"3.5\" fill=\"\(color)\" fill-opacity=\"0.75\"><title>\(format4(x)), \(format4(y))</title></circle>" }
            case .bar:
                let slotPx = plotW / Double(max(1, categories.count)) * 0.8
                let barW = slotPx / seriesCount
                for (x, y) in zip(series.x, series.y) {
                    let x0 = px(x) - slotPx / 2 + Double(k) * barW
                    let (y0, y1) = (py(max(0, y)), py(min(0, y)))
                    s += "<rect x=\"\(n(x0))\" y=\"\(n(y0))\" width=\"\(n(max(1, barW - 1)))\" height=\"\(n(max(0.5, y1 - y0)))\" fill=\"\(color)\"><title>\(format4(x)): \(format4(y))</title></rect>"
                }
            }
        }
        if legend {
            for (k, series) in p.series.enumerated() {
                let y = top + 10 + Double(k) * 20
                s += "<rect x=\"\(n(left + plotW + 14))\" y=\"\(n(y - 9))\" width=\"12\" height=\"12\" rx=\"2\" fill=\"\(palette[k % palette.count])\"/>"
                s += label(left + plotW + 32, y + 1, series.name.isEmpty ? "series \(k + 1)" : series.name, anchor: "start", size: 12, color: "#1d2433")
            }
        }
        return s + "</svg>"
    }
}
