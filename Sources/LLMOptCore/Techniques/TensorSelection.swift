import Foundation

/// Which weight matrices a technique (quantization, pruning) touches, chosen by regular
/// expressions over Hugging Face tensor names, in the manner of llm-compressor's `targets` /
/// `ignore`. A pattern selects a name when it matches anywhere in it (`"mlp"` selects every MLP
/// matrix; anchor with `^...$` for exact names).
///
/// Only matrices (rank-2 tensors) are ever selected: biases and norm weights stay as they are.
/// Without targets, every matrix except the embeddings and the LM head is selected (their
/// errors hit every token, and they are usually quantized separately, e.g. to Q8_0); name them
/// in `targets` to include them.
public struct TensorSelection: @unchecked Sendable {
    public let targets: [String]
    public let ignore: [String]
    // NSRegularExpression is immutable and thread-safe once built.
    private let targetExpressions: [NSRegularExpression]
    private let ignoreExpressions: [NSRegularExpression]

    public init(targets: [String] = [], ignore: [String] = []) throws {
        self.targets = targets
        self.ignore = ignore
        targetExpressions = try targets.map { try Self.compile($0, argument: "targets") }
        ignoreExpressions = try ignore.map { try Self.compile($0, argument: "ignore") }
    }

    /// Whether `name` (a tensor of `shape`) is selected.
    public func selects(_ name: String, shape: [Int]) -> Bool {
        guard shape.count == 2 else { return false }
        if ignoreExpressions.contains(where: { Self.matches($0, name) }) { return false }
        if targetExpressions.isEmpty { return !Self.isEmbeddingOrHead(name) }
        return targetExpressions.contains { Self.matches($0, name) }
    }

    /// The selected tensors of `model`, in the model's order.
    public func names(in model: Model) -> [String] {
        model.weightOrder.filter { name in model.weights[name].map { selects(name, shape: $0.shape) } ?? false }
    }

    /// Token and position embeddings and the LM head, under Llama and GPT-2 names.
    public static func isEmbeddingOrHead(_ name: String) -> Bool {
        matches(embeddingOrHead, name)
    }

    /// Whether `pattern` matches somewhere in `name`; `argument` names the option in errors.
    public static func matches(pattern: String, name: String, argument: String) throws -> Bool {
        matches(try compile(pattern, argument: argument), name)
    }

    private static let embeddingOrHead = try! NSRegularExpression(pattern: #"(^|\.)(embed_tokens|wte|wpe|lm_head)(\.|$)"#)

    private static func compile(_ pattern: String, argument: String) throws -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: pattern) } catch {
            throw LLMOptError.invalidArgument(name: argument, reason: "'\(pattern)' is not a valid regular expression")
        }
    }

    private static func matches(_ expression: NSRegularExpression, _ name: String) -> Bool {
        expression.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }
}
