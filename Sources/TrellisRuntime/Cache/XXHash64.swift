/// XXH64 (Yann Collet's xxHash, 64-bit): a fast, well-distributed, non-cryptographic hash,
/// bit for bit the reference algorithm so its values can be checked against any other
/// implementation. A page's `ETag` is two of them (``ETags/contentTag(_:)``): it tells
/// versions of a page apart and is no secret, so it needs no cryptographic hash, and
/// SHA-256 of a 20-row page cost ~5% of the list's server CPU.
enum XXHash64 {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let count = bytes.count
        guard let base = bytes.baseAddress else { return avalanche(seed &+ prime5) }
        var offset = 0
        var h: UInt64
        if count >= 32 {
            var v1 = seed &+ prime1 &+ prime2
            var v2 = seed &+ prime2
            var v3 = seed
            var v4 = seed &- prime1
            while offset &+ 32 <= count {
                v1 = round(v1, word(base, offset))
                v2 = round(v2, word(base, offset &+ 8))
                v3 = round(v3, word(base, offset &+ 16))
                v4 = round(v4, word(base, offset &+ 24))
                offset &+= 32
            }
            h = v1.rotated(1) &+ v2.rotated(7) &+ v3.rotated(12) &+ v4.rotated(18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = seed &+ prime5
        }
        h &+= UInt64(count)
        while offset &+ 8 <= count {
            h ^= round(0, word(base, offset))
            h = h.rotated(27) &* prime1 &+ prime4
            offset &+= 8
        }
        if offset &+ 4 <= count {
            h ^= UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) &* prime1
            h = h.rotated(23) &* prime2 &+ prime3
            offset &+= 4
        }
        while offset < count {
            h ^= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) &* prime5
            h = h.rotated(11) &* prime1
            offset &+= 1
        }
        return avalanche(h)
    }

    @inline(__always)
    private static func word(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    private static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        (accumulator &+ input &* prime2).rotated(31) &* prime1
    }

    @inline(__always)
    private static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* prime1 &+ prime4
    }

    @inline(__always)
    private static func avalanche(_ hash: UInt64) -> UInt64 {
        var h = hash
        h ^= h &>> 33
        h &*= prime2
        h ^= h &>> 29
        h &*= prime3
        h ^= h &>> 32
        return h
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotated(_ bits: UInt64) -> UInt64 { (self &<< bits) | (self &>> (64 &- bits)) }
}
