import Foundation
import PlaidKernels

/// What plaid runs on this machine: the CPU, the level of its own kernels, the encoder's 16-bit
/// product tile and OpenBLAS's core type (`plaid info --system`), so that a measurement can say
/// which code paths it measured.
public struct MachineDescription: Codable, Sendable {
    /// The CPU's model name (Linux's /proc/cpuinfo), or "unknown".
    public let cpu: String
    /// The kernel level in force: 4 (x86-64-v4, AVX-512), 3 (x86-64-v3, AVX2 and FMA) or 1.
    public let kernelLevel: Int
    /// The best level this CPU runs.
    public let cpuKernelLevel: Int
    /// The encoder's 16-bit product tile: "avx512-vnni", "avx2" or "portable".
    public let encoderProductTile: String
    /// OpenBLAS's core type and who chose it.
    public let blasCore: String

    public init() {
        cpu = Self.cpuModelName() ?? "unknown"
        kernelLevel = Int(plaid_kernel_level())
        cpuKernelLevel = Int(plaid_cpu_kernel_level())
        encoderProductTile = String(cString: plaid_enc_int16_gemm_tile())
        blasCore = BLASCoreType.describe()
    }

    public var lines: [String] {
        ["cpu:              \(cpu)",
         "kernel level:     \(kernelLevel) (this CPU runs up to \(cpuKernelLevel); 4 = AVX-512, 3 = AVX2 and FMA, 1 = x86-64)",
         "encoder product:  \(encoderProductTile) (16-bit integer tile)",
         "BLAS core:        \(blasCore)"]
    }

    /// The description as pretty-printed JSON with sorted keys.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    static func cpuModelName() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}
