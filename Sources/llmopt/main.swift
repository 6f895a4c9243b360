import LLMOptCLI

LLMOptCommand.main()
