import NIOConcurrencyHelpers
import Prometheus

/// A counter family with one label, whose handles are made once per label value and then
/// reused, so counting costs a dictionary lookup and an atomic add. Label values must come
/// from a bounded set chosen by the server (enum raw values, problem codes), never from
/// client input.
final class LabelledCounters: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let name: String
    private let label: String
    private let help: String
    private let counters = NIOLockedValueBox<[String: Counter]>([:])

    /// `name` without the `_total` suffix, which the registry name gets.
    init(registry: PrometheusCollectorRegistry, name: String, label: String, help: String) {
        self.registry = registry
        self.name = name
        self.label = label
        self.help = help
    }

    func increment(_ value: String, by amount: Int = 1) {
        counter(value).increment(by: Int64(amount))
    }

    private func counter(_ value: String) -> Counter {
        counters.withLockedValue { counters in
            if let counter = counters[value] { return counter }
            let counter = registry.counter(name, help: help, labels: [(label, value)])
            counters[value] = counter
            return counter
        }
    }
}
