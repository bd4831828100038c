import Testing

@testable import TrellisRuntime

/// `XXHash64` is the reference XXH64, and a page's `ETag` is two of them.
@Suite("XXH64 and the page ETag")
struct XXHash64Tests {
    /// Byte `i` of a test input of any length: every byte value, in no simple order.
    static func input(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) } }

    /// (length, XXH64 with seed 0, with seed 1), from the reference implementation (Python's
    /// `xxhash` 3): every length through the 32-byte stripes and the 8-, 4- and 1-byte tails.
    static let reference: [(Int, UInt64, UInt64)] = [
        (0, 0xef46db3751d8e999, 0xd5afba1336a3be4b),
        (1, 0xa96c7f0ce858bbb7, 0x0766883a0a47a96a),
        (2, 0xac378c5993cd5f9a, 0x49cbd4fc6c254bd5),
        (3, 0x56e6957632a487f9, 0x598afe4fbb09d9f6),
        (4, 0xc60d15b1e3ff8f04, 0x5e9f99aa13de2d02),
        (5, 0x808815858624dd4e, 0xb15c817d13965acf),
        (6, 0xcf22b4e87e9bbd00, 0x793e5710b24b7773),
        (7, 0xafbefc3d6c6f9a8e, 0xbd99f1fa0de7b9a4),
        (8, 0x3da5c7aa269683e0, 0x1b4e043a4021aa18),
        (9, 0x4b17a9ba9e215c09, 0x2a77c6e783fb18b1),
        (10, 0x6b889090b8a922b8, 0x432e4e97d1bdb485),
        (11, 0x1fc070e44716bd8e, 0x7436a247f2927a92),
        (12, 0x8fe8ab1c1fd0666e, 0xaaf19ec96e7722cd),
        (13, 0x0382284cc19c4abb, 0xd6039376c2d09106),
        (14, 0x1523f762201ba56e, 0x0670b047ce3c85c4),
        (15, 0xae2a37eb9357caa7, 0xc88bd84841af8ac9),
        (16, 0xa19ad429b02bc413, 0x78b588afc3e5e956),
        (17, 0xfe9f0feb7eeedc09, 0x9c4d638a8d88a249),
        (18, 0xa44dbc53c815d4fe, 0x0cde785347804224),
        (19, 0x3693e04c0dfc7dd2, 0x4fcab7490fb86d91),
        (20, 0x0bfbadb368e7f37c, 0x69492a69814b2f76),
        (21, 0xfe78683697d5c575, 0xd7c58a45df4c7a95),
        (22, 0xb07142420c77fe7f, 0x41bab6dd4099d2c8),
        (23, 0xe77b1fcea84118c3, 0xc29f92b27cc6e3cb),
        (24, 0x929438e5c2159ef9, 0xc0601f839d43277b),
        (25, 0x7e6c95919380459f, 0x7aa326af91d11800),
        (26, 0xaf2efe1aa0cf37dc, 0x06db4d9023278214),
        (27, 0x8edaa24c28d12ec6, 0x593471ee76f983bb),
        (28, 0xa36b5c4091187d2a, 0x36ffc980daa80f0c),
        (29, 0xeb1fee1bf0954759, 0x31667449387d7a1f),
        (30, 0x6a54ebe6fe40b928, 0xf27116d7b0ac9af5),
        (31, 0x4a74f3a1a39ad4a1, 0xd7ac4f4bea4e460a),
        (32, 0x8d57d6a4671cc43d, 0x8f666909cfd00cc8),
        (33, 0x62c9fd21ed857664, 0xb1575979b72c805a),
        (34, 0x42cce8a8f5fc5f1f, 0x404e2a303d716a77),
        (35, 0x85cbcf9e0d9cbeca, 0x3398991956c04c98),
        (36, 0xa4475c606b0abc3c, 0xadbc85402ad70eea),
        (37, 0x5d71d9fc4b676d9f, 0xee086a7ed5e10eb9),
        (38, 0x88a74ab8eaeb0218, 0x5ba467eb4baa030f),
        (39, 0x1789542489e59cc4, 0x7ce6e8e101e3642c),
        (40, 0x49b45332e280f187, 0x4ea2e43cf7f9bda8),
        (63, 0x5c320a0d2707057f, 0x61b9cb220da77a86),
        (64, 0x7bbabbc45729d17e, 0xee10eee981202ce9),
        (65, 0xf3980c34bae65dc1, 0xb99a8864d5005b72),
        (100, 0xefa0ad2d3e70c151, 0xcd8103aecd2ed5cf),
        (1000, 0x99594f4828043d35, 0x31db8080bc8eb541),
        (20000, 0xc86530a8ca8fac15, 0x340df9b6681daea6),
    ]

    @Test func everyLengthHashesAsTheReferenceImplementation() {
        for (count, seed0, seed1) in Self.reference {
            let bytes = Self.input(count)
            bytes.withUnsafeBytes { raw in
                #expect(XXHash64.hash(raw, seed: 0) == seed0, "length \(count), seed 0")
                #expect(XXHash64.hash(raw, seed: 1) == seed1, "length \(count), seed 1")
            }
        }
    }

    @Test func aPageTagIsBothHashesInHexBetweenQuotes() {
        let body = Array(#"{"data":[],"next_cursor":null}"#.utf8)
        let (seed0, seed1) = body.withUnsafeBytes { (XXHash64.hash($0, seed: 0), XXHash64.hash($0, seed: 1)) }
        let hex = { (value: UInt64) in
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        #expect(ETags.contentTag(body) == "\"" + hex(seed0) + hex(seed1) + "\"")
        #expect(ETags.contentTag(body) == ETags.contentTag(Array(body)))
    }

    @Test func changingAnyOneByteOfAPageChangesItsTag() {
        let page = Self.input(2_000)
        let tag = ETags.contentTag(page)
        for index in page.indices {
            var changed = page
            changed[index] ^= 0x01
            #expect(ETags.contentTag(changed) != tag, "byte \(index)")
        }
        #expect(ETags.contentTag(Array(page.dropLast())) != tag)
    }
}
