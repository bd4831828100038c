import Foundation
import HTTPTypes

/// A resource marked `deprecated: { sunset, link }` in its schema: every response of its
/// operations carries `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and, with a link,
/// `Link: <…>; rel="deprecation"` (DESIGN.md §5).
public struct ResourceDeprecation: Sendable, Hashable {
    /// The last day the operations work, `YYYY-MM-DD` (UTC).
    public var sunset: String
    /// Where the migration is explained.
    public var link: String?
    /// `Sunset`: the last second of the sunset day as an HTTP date, computed once.
    let sunsetHTTPDate: String

    public init(sunset: String, link: String? = nil) {
        self.sunset = sunset
        self.link = link
        sunsetHTTPDate = Self.endOfDay(sunset).map(Self.httpDate) ?? sunset
    }

    /// Adds the deprecation headers. `Deprecation` is the response time (`@<unix seconds>`):
    /// the schema says the resource is deprecated, not since when, and any past date means
    /// "deprecated" to a client.
    func apply(to headers: inout HTTPFields, now: Date = Date()) {
        headers[.deprecation] = "@\(Int64(now.timeIntervalSince1970.rounded(.down)))"
        headers[.sunset] = sunsetHTTPDate
        if let link {
            let value = "<\(link)>; rel=\"deprecation\""
            if let existing = headers[.link] { headers[.link] = existing + ", " + value } else { headers[.link] = value }
        }
    }

    /// 23:59:59 UTC on `day` (`YYYY-MM-DD`); nil when it is not such a date (the schema
    /// loader has checked it already).
    static func endOfDay(_ day: String) -> Date? {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: 23, minute: 59, second: 59))
    }

    /// `Wed, 30 Jun 2027 23:59:59 GMT` (RFC 9110 IMF-fixdate).
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

extension HTTPField.Name {
    static let deprecation = Self("Deprecation")!
    static let sunset = Self("Sunset")!
}
