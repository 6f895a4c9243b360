import LLMOptCore
