/// Default names derived from a resource's PascalCase name.
enum Naming {
    /// `APIKey` -> `api_key`, `SwarmMember` -> `swarm_member`.
    static func snakeCase(_ name: String) -> String {
        let characters = Array(name)
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) {
                    result += "_"
                }
            }
            result += character.lowercased()
        }
        return result
    }

    /// English plural of the last word: `category` -> `categories`, `box` -> `boxes`.
    static func plural(_ word: String) -> String {
        let vowels: Set<Character> = ["a", "e", "i", "o", "u"]
        if word.hasSuffix("y"), word.count > 1, !vowels.contains(word.dropLast().last ?? "a") {
            return word.dropLast() + "ies"
        }
        for suffix in ["s", "x", "z", "ch", "sh"] where word.hasSuffix(suffix) {
            return word + "es"
        }
        return word + "s"
    }

    /// The default table of a resource: `Agent` -> `agents`, `APIKey` -> `api_keys`.
    static func defaultTable(forResource name: String) -> String {
        plural(snakeCase(name))
    }
}
