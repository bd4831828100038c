import Foundation

/// Readers for query-string values, which arrive as text.
extension Validator {
    public mutating func queryBoolean(_ text: String, at path: String) -> Bool? {
        switch text {
        case "true": return true
        case "false": return false
        default:
            report(path, .type, "must be true or false")
            return nil
        }
    }

    public mutating func queryInteger(_ text: String, at path: String) -> Int64? {
        guard let value = Int64(text) else {
            report(path, .type, "must be an integer")
            return nil
        }
        return value
    }

    public mutating func queryNumber(_ text: String, at path: String) -> Double? {
        guard let value = Double(text), value.isFinite else {
            report(path, .type, "must be a number")
            return nil
        }
        return value
    }
}
