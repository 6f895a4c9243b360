import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rules every save follows, for files and folders alike:
/// - missing parent folders are created;
/// - an existing destination is replaced only when it is a regular file (for a file save) or a
///   folder holding nothing but the files llmopt writes (for a folder save); a device, a link,
///   a folder of other files is refused;
/// - the new result is written beside the destination under a temporary name and swapped in
///   by one rename, so a crash or a full disk leaves the old result or the new, never a mix;
/// - temporaries left by a killed llmopt (`.NAME.PID.RANDOM.tmp`, `.llmopt-tmp`, `.llmopt-old`
///   beside the destination) are removed by the next save to that destination.
public enum SaveTarget {
    /// Files a model folder or a training checkpoint written by llmopt holds (sharded
    /// safetensors included).
    static func isModelFolderFile(_ name: String) -> Bool {
        let known: Set<String> = [
            "config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "chat_template.jinja",
            "parameters.safetensors", "optimizer.safetensors", "trainer.json",
        ]
        return known.contains(name) || (name.hasPrefix("model-") && name.hasSuffix(".safetensors"))
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Checks `path` before a save and prepares its folder: an error when the path is empty or
    /// names something llmopt must not replace; creates missing parents; removes temporaries
    /// that a killed save left for this destination.
    public static func prepare(_ path: String, folder: Bool) throws {
        guard !path.isEmpty else {
            throw LLMOptError.invalidArgument(name: "path", reason: "is empty: give a file ending in .gguf or a folder name")
        }
        let name = (path as NSString).lastPathComponent
        guard !name.isEmpty, name != ".", name != ".." else {
            throw LLMOptError.badFile(path: path, reason: "names no file or folder to write")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            let type = info.st_mode & S_IFMT
            if folder {
                guard type == S_IFDIR else {
                    throw LLMOptError.badFile(path: path, reason: "exists and is not a folder; a model folder is saved only over a folder llmopt wrote")
                }
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                let foreign = entries.filter { entry in
                    var s = stat()
                    let full = (path as NSString).appendingPathComponent(entry)
                    return !(isModelFolderFile(entry) && lstat(full, &s) == 0 && s.st_mode & S_IFMT == S_IFREG)
                }
                guard foreign.isEmpty else {
                    let shown = foreign.sorted().prefix(3).map { "'\($0.debugEscaped)'" }.joined(separator: ", ")
                    throw LLMOptError.badFile(path: path, reason: "holds files a saved model folder does not (\(shown)\(foreign.count > 3 ? ", ..." : "")); llmopt replaces only folders it wrote: choose another folder")
                }
            } else {
                guard type == S_IFREG else {
                    let what = type == S_IFDIR ? "a folder" : type == S_IFLNK ? "a symbolic link" : "not a regular file (a device, pipe or socket)"
                    throw LLMOptError.badFile(path: path, reason: "exists and is \(what); llmopt replaces only regular files")
                }
            }
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw LLMOptError.badFile(path: path, reason: "cannot create the folder \(parent): \(error.localizedDescription)")
            }
        }
        removeOrphans(of: path)
    }

    /// `.NAME.PID.RANDOM.SUFFIX` beside `path`.
    static func temporaryPath(for path: String, suffix: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        return ((folder.isEmpty ? "." : folder) as NSString)
            .appendingPathComponent(".\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).\(suffix)")
    }

    /// Removes temporaries of earlier saves to `path` whose process is gone. When a folder swap
    /// was killed between its two renames (only where the atomic exchange is unavailable), the
    /// old folder set aside is put back first.
    public static func removeOrphans(of path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        let dir = folder.isEmpty ? "." : folder
        let name = (path as NSString).lastPathComponent
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        let prefix = ".\(name)."
        for entry in entries where entry.hasPrefix(prefix) {
            let parts = entry.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 3, let pid = Int32(parts[0]), UInt32(parts[1]) != nil,
                  ["tmp", "llmopt-tmp", "llmopt-old"].contains(String(parts[2])) else { continue }
            // A live process (another save in progress) keeps its temporaries.
            if pid == getpid() || kill(pid, 0) == 0 || errno == EPERM { continue }
            let full = (dir as NSString).appendingPathComponent(entry)
            var info = stat()
            if parts[2] == "llmopt-old", lstat(path, &info) != 0, rename(full, path) == 0 { continue }
            try? FileManager.default.removeItem(atPath: full)
        }
    }

    /// Writes a folder by `body` into a temporary folder beside `path`, then swaps it in: one
    /// atomic exchange where the system has it (Linux renameat2), else the old folder is renamed
    /// aside, the new one in, and the old removed. On error the temporary folder is removed and
    /// the old folder stays.
    public static func writeFolder(at path: String, _ body: (String) throws -> Void) throws {
        try prepare(path, folder: true)
        let temporary = temporaryPath(for: path, suffix: "llmopt-tmp")
        guard mkdir(temporary, 0o755) == 0 else {
            throw LLMOptError.badFile(path: path, reason: "cannot create \(temporary): \(errnoText())")
        }
        do {
            try body(temporary)
            try syncFolder(temporary)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            // Name the destination the user gave, not the temporary folder.
            if case .badFile(let file, let reason) = error as? LLMOptError, file.hasPrefix(temporary) {
                throw LLMOptError.badFile(path: path + file.dropFirst(temporary.count), reason: reason + " (the old \(path) is left as it was)")
            }
            throw error
        }
        var info = stat()
        if lstat(path, &info) != 0 {
            guard rename(temporary, path) == 0 else {
                let reason = errnoText()
                try? FileManager.default.removeItem(atPath: temporary)
                throw LLMOptError.badFile(path: path, reason: "cannot rename \(temporary) into place: \(reason)")
            }
        } else if exchange(temporary, path) {
            // `temporary` now holds the old folder.
            try? FileManager.default.removeItem(atPath: temporary)
        } else {
            let old = temporaryPath(for: path, suffix: "llmopt-old")
            guard rename(path, old) == 0 else {
                let reason = errnoText()
                try? FileManager.default.removeItem(atPath: temporary)
                throw LLMOptError.badFile(path: path, reason: "cannot move the old folder aside: \(reason)")
            }
            guard rename(temporary, path) == 0 else {
                let reason = errnoText()
                _ = rename(old, path)
                try? FileManager.default.removeItem(atPath: temporary)
                throw LLMOptError.badFile(path: path, reason: "cannot rename \(temporary) into place: \(reason)")
            }
            try? FileManager.default.removeItem(atPath: old)
        }
        let parent = (path as NSString).deletingLastPathComponent
        try? syncFolder(parent.isEmpty ? "." : parent)
    }

    /// Flushes a folder's entries (the names of the files renamed into it) to disk.
    static func syncFolder(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LLMOptError.badFile(path: path, reason: "cannot open the folder: \(errnoText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw LLMOptError.badFile(path: path, reason: "fsync failed: \(errnoText())") }
    }

    #if os(Linux)
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// glibc's renameat2, looked up at run time (its header declares it only for _GNU_SOURCE).
    private static let renameat2: RenameAt2? = {
        guard let symbol = dlsym(nil, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()
    #endif

    /// Swaps two existing paths in one step; false where the system or file system cannot.
    static func exchange(_ a: String, _ b: String) -> Bool {
        #if os(Linux)
        guard let renameat2 else { return false }
        let atCWD: Int32 = -100 // AT_FDCWD
        let renameExchange: UInt32 = 1 << 1 // RENAME_EXCHANGE
        return renameat2(atCWD, a, atCWD, b, renameExchange) == 0
        #else
        return false
        #endif
    }
}
