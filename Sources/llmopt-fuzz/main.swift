import Foundation
import LLMOptCore
import LLMOptScript
#if canImport(Glibc)
import Glibc
#endif

// llmopt-fuzz: mutates model files, tokenizers and scripts and feeds them to the loaders, the
// engine and the interpreter. A parent process runs the cases in child processes and watches
// them: a child killed by a signal is a crash, one that stops making progress is a hang, one
// whose memory passes the bound is an allocation beyond it. Each finding is kept as files
// under --findings, to become a regression input under Tests/Fuzz/.
//
//   llmopt-fuzz [--seconds N | --cases N] [--targets gguf,safetensors,config,tokenizer,llama2c,script]
//               [--seed N] [--memory-mb N] [--timeout S] [--findings DIR] [--replay DIR]
//
// Run from the package root (seeds come from Tests/Fixtures and the test scripts).

let targetNames = ["gguf", "safetensors", "config", "tokenizer", "llama2c", "script"]

struct Options {
    var seconds: Double? = nil
    var cases: Int? = nil
    var targets = targetNames
    var seed = UInt64(Date().timeIntervalSince1970 * 1000)
    var memoryMB = 3072
    var timeout = 30.0
    var findings = "fuzz-findings"
    var child = false
    var work = ""
    var replay: String? = nil
    /// Cases per child process before a fresh one starts.
    var chunk = 20_000

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { fail("missing value after \(args[i - 1])") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--seconds": o.seconds = Double(value())
            case "--cases": o.cases = Int(value())
            case "--targets": o.targets = value().split(separator: ",").map(String.init)
            case "--seed": o.seed = UInt64(value()) ?? o.seed
            case "--memory-mb": o.memoryMB = Int(value()) ?? o.memoryMB
            case "--timeout": o.timeout = Double(value()) ?? o.timeout
            case "--findings": o.findings = value()
            case "--child": o.child = true
            case "--work": o.work = value()
            case "--chunk": o.chunk = Int(value()) ?? o.chunk
            case "--replay": o.replay = value()
            case "-h", "--help":
                print("usage: llmopt-fuzz [--seconds N | --cases N] [--targets \(targetNames.joined(separator: ","))] [--seed N] [--memory-mb N] [--timeout S] [--findings DIR] [--replay DIR]")
                exit(0)
            default: fail("unknown argument \(args[i])")
            }
            i += 1
        }
        for t in o.targets where !targetNames.contains(t) { fail("unknown target \(t) (\(targetNames.joined(separator: ", ")))") }
        return o
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("llmopt-fuzz: \(message)\n".utf8))
    exit(2)
}

let options = Options.parse(CommandLine.arguments)
if options.child {
    Child(options: options).run()
} else if let replay = options.replay {
    exit(Replay.run(folder: replay))
} else {
    exit(Parent(options: options).run())
}
