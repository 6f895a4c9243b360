/// Every error the engine reports to users. Messages name the file, tensor or argument and
/// say what was wrong, so that the CLI and the language can print them as they are.
public enum LLMOptError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A file that cannot be read or whose content is malformed.
    case badFile(path: String, reason: String)
    case missingTensor(name: String, source: String)
    case shapeMismatch(name: String, expected: [Int], actual: [Int], source: String)
    case unsupported(String)
    case invalidArgument(name: String, reason: String)
    case cancelled

    public var description: String {
        switch self {
        case .badFile(let path, let reason): return "\(path): \(reason)"
        case .missingTensor(let name, let source): return "\(source): missing tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let actual, let source):
            return "\(source): tensor '\(name)' has shape \(actual), expected \(expected)"
        case .unsupported(let what): return what
        case .invalidArgument(let name, let reason): return "argument '\(name)': \(reason)"
        case .cancelled: return "cancelled"
        }
    }
}
