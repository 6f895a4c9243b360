import Foundation

/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }
}

/// Renders a conversation the way a model's own chat template does, for the template
/// families llmopt recognizes (it does not run Jinja). Today: ChatML
/// (`<|im_start|>role\ncontent<|im_end|>\n`, as SmolLM, Qwen and others use).
public struct ChatTemplate: Sendable {
    public enum Style: Sendable, Equatable {
        /// `<|im_start|>role\ncontent<|im_end|>\n`; `defaultSystem` is the system message the
        /// template inserts when the conversation does not start with one.
        case chatML(defaultSystem: String?)
    }

    public let style: Style

    public init(style: Style) { self.style = style }

    /// Recognizes the family of a model's Jinja template.
    public init(template: String?) throws {
        guard let template, !template.isEmpty else {
            throw LLMOptError.unsupported("the model has no chat template; generate from a plain prompt instead")
        }
        guard template.contains("<|im_start|>") else {
            throw LLMOptError.unsupported("chat template not recognized (llmopt renders ChatML templates, with <|im_start|>)")
        }
        style = .chatML(defaultSystem: Self.defaultSystemMessage(in: template))
    }

    /// The literal system turn a ChatML template emits when the first message is not a system
    /// message (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face").
    static func defaultSystemMessage(in template: String) -> String? {
        guard template.contains("!= 'system'") || template.contains("!= \"system\"") else { return nil }
        let marker = "<|im_start|>system\n"
        guard let start = template.range(of: marker),
              let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex)
        else { return nil }
        let text = String(template[start.upperBound..<end.lowerBound])
        // A literal, not an expression such as `{{ messages[0]['content'] }}`.
        return text.contains("{{") || text.contains("{%") ? nil : text
    }

    /// The prompt text for `messages`, ending with the assistant's opening when `addGenerationPrompt`.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        switch style {
        case .chatML(let defaultSystem):
            var turns = messages
            if let defaultSystem, turns.first?.role != "system" {
                turns.insert(.system(defaultSystem), at: 0)
            }
            var text = ""
            for m in turns { text += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { text += "<|im_start|>assistant\n" }
            return text
        }
    }

    /// Pieces that end the assistant's turn.
    public var endOfTurnPieces: [String] {
        switch style {
        case .chatML: return ["<|im_end|>"]
        }
    }
}
