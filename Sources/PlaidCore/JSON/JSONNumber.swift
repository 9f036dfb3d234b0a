/// A number as `JSONReader` reads it.
struct JSONNumber {
    /// The nearest double, as `strtod` rounds.
    var value: Double
    /// The value, for an integer literal that fits 64 bits.
    var integer: Int64?
    /// No fraction and no exponent.
    var isIntegerLiteral: Bool
}

/// The digits of a number literal, gathered as they are checked: up to 19 significant ones in
/// `mantissa`, so that most numbers ("0.0123456") take Clinger's exact path instead of `strtod`.
private struct DecimalDigits {
    var mantissa: UInt64 = 0
    /// Significant digits read (leading zeros are not), counting those past `mantissa`'s 19
    /// before the decimal point.
    var significant = 0
    /// Digits after the decimal point that `mantissa` holds.
    var fraction = 0

    /// 10^0 … 10^22, each exact in a double.
    static let powersOfTen: [Double] = (0...22).map { n in (0..<n).reduce(1.0) { value, _ in value * 10 } }

    /// Clinger's fast path: when the mantissa and 10^|scale| are exact doubles, one
    /// multiplication or division rounds correctly, as `strtod` would; nil otherwise.
    func exactValue(negative: Bool, exponent: Int) -> Double? {
        let scale = exponent - fraction
        guard significant <= 15, mantissa < 1 << 53, abs(scale) <= 22 else { return nil }
        let magnitude = scale >= 0 ? Double(mantissa) * Self.powersOfTen[scale] : Double(mantissa) / Self.powersOfTen[-scale]
        return negative ? -magnitude : magnitude
    }
}

extension JSONReader {
    /// Reads a number literal: `-`? int frac? exp? (RFC 8259, section 6).
    mutating func number() throws -> JSONNumber {
        let start = position
        var digits = DecimalDigits()
        let negative = peek() == UInt8(ascii: "-")
        if negative { position += 1 }
        guard let first = peek(), isDigit(first) else { throw error(.expected("a digit")) }
        if first == UInt8(ascii: "0") { position += 1 } else { scanDigits(into: &digits, fraction: false) }
        var isIntegerLiteral = true
        if peek() == UInt8(ascii: ".") {
            position += 1
            isIntegerLiteral = false
            guard scanDigits(into: &digits, fraction: true) > 0 else { throw error(.expected("a digit after the decimal point")) }
        }
        var exponent = 0
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            position += 1
            isIntegerLiteral = false
            exponent = try scanExponent()
        }
        let literal = UnsafeBufferPointer(rebasing: bytes[start..<position])
        let value = digits.exactValue(negative: negative, exponent: exponent) ?? Double(String(decoding: literal, as: UTF8.self)) ?? .nan
        guard value.isFinite else {
            throw JSONError(.numberOutOfRange(literal: String(decoding: literal, as: UTF8.self)), at: start, in: bytes)
        }
        var integer: Int64?
        if isIntegerLiteral {
            // Up to 18 digits fit; longer literals are read again, to tell 2^63 - 1 from 2^63.
            let magnitude = digits.significant <= 18 ? Int64(digits.mantissa) : nil
            integer = magnitude.map { negative ? -$0 : $0 } ?? Int64(String(decoding: literal, as: UTF8.self))
        }
        return JSONNumber(value: value, integer: integer, isIntegerLiteral: isIntegerLiteral)
    }

    /// Reads a run of digits into `digits`; how many were read.
    @discardableResult
    private mutating func scanDigits(into digits: inout DecimalDigits, fraction: Bool) -> Int {
        let first = position
        while let byte = peek(), isDigit(byte) {
            if digits.significant < 19 {
                digits.mantissa = digits.mantissa &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
                if digits.mantissa > 0 { digits.significant += 1 }
                if fraction { digits.fraction += 1 }
            } else if !fraction {
                digits.significant += 1   // too many digits: strtod decides
            }
            position += 1
        }
        return position - first
    }

    /// Reads an exponent after its `e`: a sign, then digits (past 100,000 only their count matters).
    private mutating func scanExponent() throws -> Int {
        var negative = false
        if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            position += 1
        }
        var exponent = 0, count = 0
        while let byte = peek(), isDigit(byte) {
            if exponent < 100_000 { exponent = exponent * 10 + Int(byte - UInt8(ascii: "0")) }
            count += 1
            position += 1
        }
        guard count > 0 else { throw error(.expected("a digit in the exponent")) }
        return negative ? -exponent : exponent
    }
}
