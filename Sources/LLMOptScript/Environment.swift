/// A scope of names. Blocks and function calls get their own scope whose parent is the scope
/// they were written in, so functions close over the variables around them.
public final class Environment {
    private var values: [String: Value] = [:]
    let parent: Environment?

    init(parent: Environment?) {
        self.parent = parent
    }

    func define(_ name: String, _ value: Value) { values[name] = value }

    func lookup(_ name: String) -> Value? {
        if let v = values[name] { return v }
        return parent?.lookup(name)
    }

    /// Assigns to the scope that defines `name`; false when no scope does.
    func assign(_ name: String, _ value: Value) -> Bool {
        if values[name] != nil {
            values[name] = value
            return true
        }
        return parent?.assign(name, value) ?? false
    }

    /// Every name visible from this scope, sorted (for suggestions and completion).
    var allNames: [String] {
        var names = Set(parent?.allNames ?? [])
        names.formUnion(values.keys)
        return names.sorted()
    }

    /// Forgets every binding. A function defined in a scope holds that scope (its closure) and
    /// the scope holds the function: a cycle that only this breaks.
    /// The values go without recursion (`Value.dismantle`): the session's end frees what it
    /// built, however deeply nested.
    func removeAll() {
        var stack = Array(values.values)
        values = [:]
        Value.dismantle(&stack)
    }

    /// Names defined in this scope itself, with their values.
    var localBindings: [(String, Value)] { values.sorted { $0.key < $1.key } }
}
