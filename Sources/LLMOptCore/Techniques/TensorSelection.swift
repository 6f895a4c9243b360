import Foundation

/// Which tensors a technique (pruning, quantization) touches, in the style of llm-compressor's
/// `targets` / `ignore`: regular expressions searched in Hugging Face tensor names.
///
/// With no `targets`, the default is every 2-D linear weight of the transformer blocks: the
/// token and position embeddings and the LM head stay untouched (as `torch.nn.utils.prune`
/// is applied in the reference data), and so do norms and biases (1-D tensors).
public struct TensorSelection: Sendable {
    public let targets: [String]
    public let ignore: [String]
    private let targetExpressions: [NSRegularExpression]
    private let ignoreExpressions: [NSRegularExpression]

    public init(targets: [String] = [], ignore: [String] = []) throws {
        func compile(_ pattern: String, _ argument: String) throws -> NSRegularExpression {
            do { return try NSRegularExpression(pattern: pattern) } catch {
                throw LLMOptError.invalidArgument(name: argument, reason: "'\(pattern)' is not a valid regular expression")
            }
        }
        self.targets = targets
        self.ignore = ignore
        targetExpressions = try targets.map { try compile($0, "targets") }
        ignoreExpressions = try ignore.map { try compile($0, "ignore") }
    }

    /// The default selection: every linear weight but embeddings and the LM head.
    public static let linearWeights: TensorSelection = try! TensorSelection()

    /// Whether the tensor `name` (of shape `shape`) of a model of `family` is selected; without
    /// targets, every matrix but the embeddings and the head (the family says which those are).
    public func selects(_ name: String, shape: [Int], family: any ModelFamily) -> Bool {
        if ignoreExpressions.contains(where: { Self.matches($0, name) }) { return false }
        if targetExpressions.isEmpty {
            return shape.count == 2 && name.hasSuffix(".weight") && !family.isEmbeddingOrHead(name)
        }
        return targetExpressions.contains(where: { Self.matches($0, name) })
    }

    /// The selected weights of `model`, in the model's tensor order.
    public func selectedNames(in model: Model) -> [String] {
        model.weightOrder.filter { name in model.weights[name].map { selects(name, shape: $0.shape, family: model.config.architecture.family) } ?? false }
    }

    private static func matches(_ expression: NSRegularExpression, _ name: String) -> Bool {
        expression.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }
}
