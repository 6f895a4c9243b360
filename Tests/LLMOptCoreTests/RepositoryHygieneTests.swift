import Foundation
import XCTest
import LLMOptTestSupport

/// Third-party files (real models, tokenizer vectors, corpora, llama.cpp's quantizations of
/// stories260K) live only in `../shared/`; the repository holds none of them, under any name.
final class RepositoryHygieneTests: XCTestCase {
    func testNoSharedDataFileIsCopiedIntoTheRepository() throws {
        let shared = try [SharedFiles.data(""), SharedFiles.testdata("llamacpp")].flatMap(Self.files)
        XCTAssertGreaterThan(shared.count, 10, "expected the shared models, vectors and corpora")
        var bySize: [Int: [String]] = [:]
        for path in shared { bySize[Self.size(path), default: []].append(path) }

        var copies: [String] = []
        for path in Self.files(in: SharedFiles.packageRoot) {
            guard let candidates = bySize[Self.size(path)] else { continue }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            for original in candidates where try Data(contentsOf: URL(fileURLWithPath: original)) == bytes {
                copies.append("\(path) is a copy of \(original)")
            }
        }
        XCTAssertEqual(copies, [], "read these through SharedFiles instead of committing them")
    }

    /// Regular files under `folder`, skipping hidden folders (.git) and build folders (.build*).
    static func files(in folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            let path = folder + "/" + relative
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { continue }
            if isFolder.boolValue {
                if name.hasPrefix(".") { walker.skipDescendants() }
                continue
            }
            if size(path) > 0 { found.append(path) }
        }
        return found
    }

    static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
    }
}
