import Prometheus

/// Trellis's metrics as one line each: name, unit and help, the descriptor built here.
extension PrometheusCollectorRegistry {
    /// A gauge exposed as `<name>_<unit>` (just `<name>` when `unit` is empty).
    func gauge(_ name: String, unit: String = "", help: String, labels: [(String, String)] = []) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help), labels: labels)
    }

    /// A counter exposed as `<name>_total`.
    func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help), labels: labels)
    }

    /// A histogram of durations exposed in seconds, as `<name>_seconds`.
    func durations(_ name: String, help: String, labels: [(String, String)] = [], buckets: [Duration]) -> DurationHistogram {
        makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "seconds", helpText: help), labels: labels, buckets: buckets)
    }
}
