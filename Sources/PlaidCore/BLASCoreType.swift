import CBLAS
import Foundation
import PlaidKernels

/// Which of its kernel sets ("core types") OpenBLAS runs, and plaid's choice of one.
///
/// OpenBLAS picks its core type once, when the library loads, from the CPUs it knows. A CPU newer
/// than the library is taken for an old one: Debian 12's OpenBLAS 0.3.21 calls an Intel Xeon of
/// family 6 model 207 (AVX-512) "Prescott" and runs SSE3 kernels, several times slower than the
/// AVX-512 ones the CPU could run. plaid decides from what cpuid says the CPU runs
/// (`plaid_cpu_kernel_level`) instead, and its command line re-executes itself with
/// `OPENBLAS_CORETYPE` set before any work (`reexecuteWithBetterCoreIfNeeded`), since the variable
/// is read only when the library loads. A core type someone set is kept, whatever it is.
public enum BLASCoreType {
    /// The variable OpenBLAS reads when it loads.
    public static let environmentVariable = "OPENBLAS_CORETYPE"
    /// Set, to OpenBLAS's own choice, when plaid set `OPENBLAS_CORETYPE`.
    public static let replacedVariable = "PLAID_REPLACED_OPENBLAS_CORETYPE"

    /// The core type OpenBLAS runs (`openblas_get_corename`).
    public static var current: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Core types whose single-precision kernels use AVX-512, and those that use at least AVX2.
    static let avx512Cores: Set<String> = ["SkylakeX", "CooperLake", "SapphireRapids"]
    static let avx2Cores: Set<String> = avx512Cores.union(["Haswell", "Zen"])

    /// The core type to ask OpenBLAS for: SkylakeX on a CPU of kernel level 4 (x86-64-v4, AVX-512
    /// with the OS's support), Haswell on one of level 3 (AVX2, FMA), where OpenBLAS chose a core
    /// type of narrower vectors. Nil where `OPENBLAS_CORETYPE` is set already (someone's choice is
    /// kept), where OpenBLAS's choice is as wide, and on AMD's Zen, whose own core type OpenBLAS
    /// tunes. A level-4 CPU runs every SkylakeX kernel, and a level-3 CPU every Haswell kernel.
    public static func replacement(forCurrent current: String, kernelLevel: Int, environment: [String: String]) -> String? {
        guard environment[environmentVariable] == nil else { return nil }
        switch kernelLevel {
        case 4 where !avx512Cores.contains(current) && current != "Zen": return "SkylakeX"
        case 3 where !avx2Cores.contains(current): return "Haswell"
        default: return nil
        }
    }

    /// One line on the core type in use and who chose it, for `plaid info --system`.
    public static func describe(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let replaced = environment[replacedVariable] {
            return "\(current) (set by plaid through \(environmentVariable); OpenBLAS chose \(replaced) for this CPU)"
        }
        if let chosen = environment[environmentVariable] { return "\(current) (\(environmentVariable)=\(chosen) set outside plaid)" }
        return "\(current) (OpenBLAS's own choice)"
    }

    #if os(Linux)
    /// Re-executes this process (`/proc/self/exe`, the same arguments) with `OPENBLAS_CORETYPE`
    /// set where `replacement` names a core type; returns where there is none, or where the
    /// re-execution fails (the process then runs on with OpenBLAS's choice). Call it first
    /// thing, before any thread starts or any file is opened.
    public static func reexecuteWithBetterCoreIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        let running = current
        guard let core = replacement(forCurrent: running, kernelLevel: Int(plaid_cpu_kernel_level()), environment: environment) else { return }
        setenv(environmentVariable, core, 1)
        setenv(replacedVariable, running, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv(environmentVariable)
        unsetenv(replacedVariable)
    }
    #endif
}
