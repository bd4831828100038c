import Foundation
import TrellisRedis

/// Where the integration tests find Redis: `TRELLIS_TEST_REDIS_URL`, set by scripts/test. A
/// missing variable fails the test that needs it (never a silent skip).
public enum RedisTestEnvironment {
    public static func configuration() throws -> RedisConfiguration {
        let name = "TRELLIS_TEST_REDIS_URL"
        guard let url = ProcessInfo.processInfo.environment[name], !url.isEmpty else { throw Missing(name: name) }
        return try RedisConfiguration(url: url)
    }

    public struct Missing: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "\(name) is not set: run the tests with scripts/test, which starts Redis and sets it" }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read what the kernel chose, close.
public func freeLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw NoFreePort() }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw NoFreePort() }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// No free port could be found on 127.0.0.1.
public struct NoFreePort: Error {}
