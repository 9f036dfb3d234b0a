import Foundation
import PlaidCore
import PlaidKernels

/// One Dense module of the chain (PyLate's or sentence-transformers' `Dense`):
/// y = activation(x·Wᵀ + b), plus x (or x·Rᵀ when the sizes differ) if `use_residual`.
/// Weights come from `<folder>/model.safetensors` with the names `linear.weight`, `linear.bias`
/// and `residual.weight`.
struct DenseProjection: @unchecked Sendable {
    enum Activation: String {
        case identity, tanh, relu, sigmoid, gelu
    }

    struct Settings: Decodable {
        let inFeatures: Int
        let outFeatures: Int
        let bias: Bool
        let activationFunction: String
        let useResidual: Bool
        enum CodingKeys: String, CodingKey {
            case inFeatures = "in_features", outFeatures = "out_features", bias
            case activationFunction = "activation_function", useResidual = "use_residual"
        }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            inFeatures = try c.decode(Int.self, forKey: .inFeatures)
            outFeatures = try c.decode(Int.self, forKey: .outFeatures)
            bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? true
            // sentence-transformers' Dense defaults to Tanh; PyLate's writes the class explicitly.
            activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? "torch.nn.modules.activation.Tanh"
            useResidual = try c.decodeIfPresent(Bool.self, forKey: .useResidual) ?? false
        }
    }

    let linear: Linear
    let residual: Linear?
    let useResidual: Bool
    let activation: Activation
    /// The weight is the identity matrix and there is no bias (the default model's Dense layer):
    /// the product is then a copy, done as one, exactly.
    let isIdentity: Bool
    var inFeatures: Int { linear.inFeatures }
    var outFeatures: Int { linear.outFeatures }

    init(folder: String, precision: MatrixPrecision) throws {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        let settings = try decodeJSON(Settings.self, path: configPath)
        switch settings.activationFunction.split(separator: ".").last.map(String.init) ?? "" {
        case "Identity": activation = .identity
        case "Tanh": activation = .tanh
        case "ReLU": activation = .relu
        case "Sigmoid": activation = .sigmoid
        case "GELU": activation = .gelu
        default:
            throw PlaidError.invalidInput(file: configPath, detail: "activation_function '\(settings.activationFunction)' is not supported (expected Identity, Tanh, ReLU, Sigmoid or GELU from torch.nn)")
        }
        let checkpoint = try Checkpoint(directory: folder)
        let linear = try checkpoint.linear("linear", in: settings.inFeatures, out: settings.outFeatures, bias: settings.bias)
        isIdentity = Self.isIdentity(linear)
        self.linear = isIdentity ? linear : linear.using(precision)
        useResidual = settings.useResidual
        if settings.useResidual && settings.inFeatures != settings.outFeatures {
            residual = try checkpoint.linear("residual", in: settings.inFeatures, out: settings.outFeatures, bias: false).using(precision)
        } else {
            residual = nil
        }
        try checkpoint.checkAllUsed(ignoring: { _ in false })
    }

    /// [rows, outFeatures] projections of `x` [rows, inFeatures].
    func apply(_ x: UnsafePointer<Float>, rows: Int, threads: Int) -> FloatBuffer {
        let out = FloatBuffer(count: rows * outFeatures)
        if isIdentity {
            out.pointer.update(from: x, count: rows * outFeatures)
        } else {
            linear.apply(x, rows: rows, into: out.pointer, threads: threads, scratch: MatmulScratch())
        }
        let n = rows * outFeatures
        let y = out.pointer
        switch activation {
        case .identity: break
        case .tanh: for i in 0..<n { y[i] = tanhf(y[i]) }
        case .relu: for i in 0..<n { y[i] = max(y[i], 0) }
        case .sigmoid: for i in 0..<n { y[i] = 1 / (1 + expf(-y[i])) }
        case .gelu: plaid_enc_bias_gelu(y, nil, rows, outFeatures, 0)
        }
        if useResidual {
            if let residual {
                let projected = FloatBuffer(count: n)
                residual.multiply(x, rows: rows, into: projected.pointer, threads: threads, scratch: MatmulScratch())
                for i in 0..<n { y[i] += projected.pointer[i] }
            } else {
                for i in 0..<n { y[i] += x[i] }
            }
        }
        return out
    }

    private static func isIdentity(_ linear: Linear) -> Bool {
        guard linear.inFeatures == linear.outFeatures else { return false }
        if let bias = linear.bias, (0..<bias.count).contains(where: { bias.pointer[$0] != 0 }) { return false }
        let n = linear.inFeatures, w = linear.weight.pointer
        for row in 0..<n {
            for column in 0..<n where w[row * n + column] != (row == column ? 1 : 0) { return false }
        }
        return true
    }
}
