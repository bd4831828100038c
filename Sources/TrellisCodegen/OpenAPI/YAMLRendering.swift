import Yams

extension OpenAPIGenerator {
    /// YAML output of an `Encodable` value with Yams, readable by any YAML 1.1 or 1.2 parser.
    ///
    /// Yams quotes string *values* that would read back as another type, but writes mapping
    /// *keys* plain, so the response code `"200"` came out as `200:`, which parsers read as an
    /// integer (and `openapi-spec-validator` then rejects the document); and it writes `0.7` as
    /// `7e-1`, which YAML 1.1 parsers (PyYAML) read as a string. After encoding, every mapping key
    /// that would resolve to something other than a string is re-emitted quoted, and every float
    /// is re-emitted with a dot and a signed exponent (`0.7`, `1.0e-05`).
    enum YAMLRendering {
        static func render<T: Encodable>(_ value: T) throws -> String {
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            encoder.options.allowUnicode = true
            encoder.options.width = -1
            let encoded = try encoder.encode(value)
            guard let node = try Yams.compose(yaml: encoded) else { return encoded }
            let options = encoder.options
            return try Yams.serialize(
                node: portable(node), width: options.width, allowUnicode: options.allowUnicode,
                sortKeys: options.sortKeys
            )
        }

        private static func portable(_ node: Node) -> Node {
            switch node {
            case let .mapping(mapping):
                let pairs = mapping.map { pair -> (Node, Node) in
                    var key = pair.key
                    if case let .scalar(scalar) = key, Resolver.default.resolveTag(of: key) != .str {
                        key = .scalar(Node.Scalar(scalar.string, Tag(.str), .singleQuoted))
                    }
                    return (key, portable(pair.value))
                }
                return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style))
            case let .sequence(sequence):
                return .sequence(Node.Sequence(sequence.map(portable), sequence.tag, sequence.style))
            case let .scalar(scalar):
                guard scalar.style == .plain || scalar.style == .any,
                      Resolver.default.resolveTag(of: node) == .float,
                      let value = Double(scalar.string), value.isFinite
                else { return node }
                return .scalar(Node.Scalar(floatText(value), scalar.tag, scalar.style))
            case .alias:
                return node
            }
        }

        /// `0.7`, `2.0`, `1.0e-05`, `1.0e+20`: a float in both the YAML 1.1 and 1.2 spellings.
        static func floatText(_ value: Double) -> String {
            let text = "\(value)"
            guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text }
            var mantissa = String(text[..<e])
            var exponent = String(text[text.index(after: e)...])
            if !mantissa.contains(".") { mantissa += ".0" }
            if !exponent.hasPrefix("-") && !exponent.hasPrefix("+") { exponent = "+" + exponent }
            return mantissa + "e" + exponent
        }
    }
}
