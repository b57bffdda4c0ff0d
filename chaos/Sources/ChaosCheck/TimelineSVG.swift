import Foundation

/// A picture of the run: acknowledgements per second (top) and acknowledgement latency
/// (bottom, the slowest ack of each bin, log scale) over time, with every fault window
/// shaded and labelled, so a failover and its cost show at a glance.
public enum TimelineSVG {
    public static func render(_ history: [HistoryEvent], outcomes: [FaultOutcome], title: String) -> String {
        let binMillis = 500.0
        let end = max(history.last?.t ?? 0, 1)
        let bins = Int((end / binMillis).rounded(.up)) + 1
        var acks = [Int](repeating: 0, count: bins)
        var slowest = [Double](repeating: 0, count: bins)
        var failures = [Int](repeating: 0, count: bins)
        var begun: [String: Double] = [:]
        for event in history {
            guard let val = event.val else { continue }
            if event.type == .invoke { begun[val] = event.t }
            if event.type == .fail || event.type == .info { failures[min(bins - 1, Int(event.t / binMillis))] += 1 }
            if event.type == .ok, let start = begun[val] {
                let bin = min(bins - 1, Int(event.t / binMillis))
                acks[bin] += 1
                slowest[bin] = max(slowest[bin], event.t - start)
            }
        }
        let width = 1200.0
        let left = 70.0
        let right = 20.0
        let plotWidth = width - left - right
        let top = (y: 40.0, height: 200.0)
        let bottom = (y: 290.0, height: 200.0)
        let height = 560.0
        func x(_ t: Double) -> Double { left + plotWidth * t / end }
        let maxRate = max(1, Double(acks.max() ?? 1) * 1000 / binMillis)
        let maxLatency = max(10, slowest.max() ?? 10)
        let logTop = log10(maxLatency * 1.2)
        func latencyY(_ ms: Double) -> Double {
            let clamped = min(max(ms, 1), maxLatency * 1.2)
            return bottom.y + bottom.height * (1 - log10(clamped) / logTop)
        }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="20" font-size="14">\(escape(title))</text>

            """
        for outcome in outcomes {
            let x0 = x(outcome.startMillis)
            let x1 = x(outcome.endMillis ?? end)
            let color = color(of: outcome.fault)
            for panel in [top, bottom] {
                svg +=
                    "<rect x=\"\(f(x0))\" y=\"\(f(panel.y))\" width=\"\(f(max(1, x1 - x0)))\" "
                    + "height=\"\(f(panel.height))\" fill=\"\(color)\" fill-opacity=\"0.25\"/>\n"
            }
            svg +=
                "<text x=\"\(f(x0 + 2))\" y=\"\(f(top.y + 10))\" font-size=\"9\" "
                + "transform=\"rotate(90 \(f(x0 + 2)) \(f(top.y + 10)))\">\(escape(outcome.fault))</text>\n"
        }
        // Axes and grid.
        for panel in [top, bottom] {
            svg +=
                "<rect x=\"\(f(left))\" y=\"\(f(panel.y))\" width=\"\(f(plotWidth))\" height=\"\(f(panel.height))\" "
                + "fill=\"none\" stroke=\"#888\"/>\n"
        }
        svg += "<text x=\"4\" y=\"\(f(top.y + 10))\">\(Int(maxRate)) ack/s</text>\n"
        svg += "<text x=\"4\" y=\"\(f(top.y + top.height))\">0</text>\n"
        svg += "<text x=\"4\" y=\"\(f(bottom.y - 6))\">ack latency (ms, log)</text>\n"
        var tick = 1.0
        while tick <= maxLatency * 1.2 {
            let y = latencyY(tick)
            svg +=
                "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(y))\" y2=\"\(f(y))\" "
                + "stroke=\"#ddd\"/><text x=\"4\" y=\"\(f(y + 4))\">\(Int(tick))</text>\n"
            tick *= 10
        }
        let stepSecs = max(1, Int((end / 1000 / 12).rounded(.up)))
        var second = 0
        while Double(second) * 1000 <= end {
            let tx = x(Double(second) * 1000)
            svg += "<text x=\"\(f(tx - 6))\" y=\"\(f(bottom.y + bottom.height + 14))\">\(second)s</text>\n"
            second += stepSecs
        }
        // Series.
        let ratePoints = acks.enumerated().map { bin, count in
            let rate = Double(count) * 1000 / binMillis
            return "\(f(x(Double(bin) * binMillis)))," + f(top.y + top.height * (1 - rate / maxRate))
        }
        svg +=
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.2\" points=\"\(ratePoints.joined(separator: " "))\"/>\n"
        for (bin, ms) in slowest.enumerated() where ms > 0 {
            svg +=
                "<circle cx=\"\(f(x(Double(bin) * binMillis)))\" cy=\"\(f(latencyY(ms)))\" r=\"1.6\" fill=\"#d62728\"/>\n"
        }
        for (bin, count) in failures.enumerated() where count > 0 {
            svg +=
                "<circle cx=\"\(f(x(Double(bin) * binMillis)))\" cy=\"\(f(bottom.y + bottom.height + 24))\" "
                + "r=\"\(f(min(5, 1.5 + log10(Double(count)) * 2)))\" fill=\"#ff7f0e\"/>\n"
        }
        svg +=
            "<text x=\"\(f(left))\" y=\"\(f(height - 6))\"><tspan fill=\"#1f77b4\">── acknowledgements per second</tspan>"
            + "   <tspan fill=\"#d62728\">● slowest acknowledgement of each 0.5 s</tspan>"
            + "   <tspan fill=\"#ff7f0e\">● failed or indeterminate attempts (size: how many)</tspan></text>\n"
        svg += "</svg>\n"
        return svg
    }

    static func color(of fault: String) -> String {
        if fault.hasPrefix("kill") { return "#d62728" }
        if fault.hasPrefix("pause") { return "#ff7f0e" }
        if fault.hasPrefix("partition") { return "#9467bd" }
        if fault == "packet_loss" || fault == "delay" { return "#8c564b" }
        return "#2ca02c"
    }

    static func f(_ value: Double) -> String { String(Double(Int(value * 10)) / 10) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
