/// The scopes a credential holds (DESIGN.md §5.1): `<resource>:read`, `<resource>:write`,
/// `jobs:read`, `jobs:write`, `events:read`, `webhooks:read`, `webhooks:write`, `keys:admin`,
/// and `admin` (platform admin).
/// `*` stands for every workspace scope; it never includes `admin`.
public struct ScopeSet: Sendable, Hashable, CustomStringConvertible {
    public static let all = "*"
    public static let keysAdmin = "keys:admin"
    public static let platformAdmin = "admin"
    /// Scopes that exist whatever the schema says.
    public static let builtIn = ["jobs:read", "jobs:write", "events:read", "webhooks:read", "webhooks:write", keysAdmin]

    public private(set) var scopes: Set<String>

    public init<S: Sequence>(_ scopes: S) where S.Element == String {
        self.scopes = Set(scopes)
    }

    public func allows(_ scope: String) -> Bool {
        if scopes.contains(scope) { return true }
        return scope != Self.platformAdmin && scopes.contains(Self.all)
    }

    /// True when every scope of `other` is allowed here: a credential may create, see,
    /// rotate or revoke only keys whose scopes it covers (DESIGN.md §6). `*` is covered only
    /// by `*`. The platform admin covers every key, since it hands tenants their keys.
    public func covers(_ other: ScopeSet) -> Bool {
        if scopes.contains(Self.platformAdmin) { return true }
        return other.scopes.allSatisfy { $0 == Self.all ? scopes.contains(Self.all) : allows($0) }
    }

    /// The scopes of `other` this set does not cover, sorted (empty when it covers them all).
    public func uncovered(_ other: ScopeSet) -> [String] {
        other.sorted.filter { !covers(ScopeSet([$0])) }
    }

    /// True for the scopes of a platform-admin key: exactly `admin`.
    public var isPlatformAdmin: Bool { scopes == [Self.platformAdmin] }

    /// Sorted, for stable output.
    public var sorted: [String] { scopes.sorted() }

    public var description: String { sorted.joined(separator: " ") }
}

/// The scopes this API knows: the built-in ones plus each resource's read and write scope.
public struct ScopeCatalog: Sendable {
    public let known: Set<String>

    public init(resourceScopes: [String]) {
        known = Set(ScopeSet.builtIn + resourceScopes + [ScopeSet.all, ScopeSet.platformAdmin])
    }

    /// The requested scopes, or the unknown ones as an error naming them.
    public func validate(_ requested: [String]) -> Result<ScopeSet, UnknownScopes> {
        let unknown = requested.filter { !known.contains($0) }
        if !unknown.isEmpty { return .failure(UnknownScopes(names: unknown, known: known.sorted())) }
        return .success(ScopeSet(requested))
    }

    public struct UnknownScopes: Error, Sendable, CustomStringConvertible {
        public var names: [String]
        public var known: [String]
        public var description: String {
            "unknown scope\(names.count == 1 ? "" : "s") \(names.map { "'\($0)'" }.joined(separator: ", ")); known scopes: \(known.joined(separator: ", "))"
        }
    }
}
