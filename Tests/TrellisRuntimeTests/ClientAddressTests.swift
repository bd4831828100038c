import Testing
@testable import TrellisRuntime

@Suite("The client address behind trusted proxies")
struct ClientAddressTests {
    @Test func anUntrustedPeerIsTheClientWhateverItsForwardedForSays() {
        let addresses = ClientAddress(trustedProxies: ["10.0.0.1"])
        #expect(addresses.resolve(peer: "203.0.113.9", forwardedFor: "198.51.100.1") == "203.0.113.9")
        #expect(addresses.resolve(peer: "203.0.113.9", forwardedFor: nil) == "203.0.113.9")
        #expect(ClientAddress().resolve(peer: "10.0.0.1", forwardedFor: "198.51.100.1") == "10.0.0.1")
    }

    @Test func aTrustedProxyNamesTheLastAddressThatIsNotAProxy() {
        let addresses = ClientAddress(trustedProxies: ["10.0.0.1", "10.0.0.2"])
        // The client wrote "1.2.3.4" itself; the first proxy appended the address it saw.
        #expect(addresses.resolve(peer: "10.0.0.1", forwardedFor: "1.2.3.4, 198.51.100.7") == "198.51.100.7")
        #expect(addresses.resolve(peer: "10.0.0.1", forwardedFor: "1.2.3.4, 198.51.100.7, 10.0.0.2") == "198.51.100.7")
        #expect(addresses.resolve(peer: "10.0.0.1", forwardedFor: "10.0.0.2") == "10.0.0.1")
        #expect(addresses.resolve(peer: "10.0.0.1", forwardedFor: nil) == "10.0.0.1")
        #expect(addresses.resolve(peer: "10.0.0.1", forwardedFor: " , ") == "10.0.0.1")
        #expect(addresses.resolve(peer: nil, forwardedFor: "1.2.3.4") == "unknown")
    }
}
