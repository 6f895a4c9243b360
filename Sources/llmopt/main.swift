import Foundation
import LLMOptCLI

if let status = ScriptCommands.run(Array(CommandLine.arguments.dropFirst())) {
    exit(status)
}
LLMOptCommand.main()
