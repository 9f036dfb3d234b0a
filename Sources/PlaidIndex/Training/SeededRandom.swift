import Foundation

/// A small seeded generator (SplitMix64) so that sampling, k-means initialisation and
/// synthetic data are reproducible across runs and machines.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }

    /// A standard normal Float (Box–Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = max(nextUnit(), 1e-7), u2 = nextUnit()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }

    /// `count` distinct integers from 0..<n in increasing order (Floyd's algorithm; O(count) memory).
    public mutating func sample(_ count: Int, from n: Int) -> [Int] {
        if count >= n { return Array(0..<n) }
        var chosen = Set<Int>(minimumCapacity: count)
        for j in (n - count)..<n {
            let t = Int(next() % UInt64(j + 1))
            if !chosen.insert(t).inserted { chosen.insert(j) }
        }
        return chosen.sorted()
    }
}
