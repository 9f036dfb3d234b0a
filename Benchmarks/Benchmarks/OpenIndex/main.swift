// How long opening an index takes, as a server opens it (structure, code ranges and list ranges
// checked; checksums not verified) and as the command line opens it (every checksum and every
// posting verified): the median of ROUNDS opens each, from the page cache (one open first warms it).
//
// Usage: open-index INDEX [ROUNDS]   (default 5 rounds)
import Foundation
import PlaidIndex

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write("usage: open-index INDEX [ROUNDS]\n".data(using: .utf8)!)
    exit(2)
}
let path = arguments[1], rounds = arguments.count > 2 ? Int(arguments[2])! : 5

func medianSeconds(verify: Bool) throws -> (seconds: Double, tokens: Int) {
    var times: [Double] = [], tokens = 0
    for _ in 0..<rounds {
        let started = DispatchTime.now().uptimeNanoseconds
        let index = try CompressedIndex(path: path, verifyChecksums: verify)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        tokens = index.segments.reduce(0) { $0 + $1.info.tokenCount }
    }
    return (times.sorted()[rounds / 2], tokens)
}

_ = try CompressedIndex(path: path, verifyChecksums: true)
let server = try medianSeconds(verify: false), verified = try medianSeconds(verify: true)
print("\(server.tokens) tokens: open without checksums \(String(format: "%.3f", server.seconds)) s, "
      + "with every checksum and posting verified \(String(format: "%.3f", verified.seconds)) s (median of \(rounds))")
