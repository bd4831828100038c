import Testing
import TrellisSchema

@Suite("Fields and their options")
struct FieldTests {
    @Test func unknownTypeSuggestsTheClosestName() {
        let yaml = """
            resource: Agent
            description: An agent.
            fields:
              name:    { type: strng, required: true }
            """
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:20: error: unknown field type 'strng' (did you mean 'string'?)",
        ])
    }

    @Test func typeNamesFromOtherLanguagesSuggestTheTrellisName() {
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "  age: { type: int }\n")) == [
            "schema/agents.yaml:4:16: error: unknown field type 'int' (did you mean 'integer'?)",
        ])
    }

    @Test func missingTypeIsReportedAtTheFieldName() {
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "  age: { required: true }\n")) == [
            "schema/agents.yaml:4:3: error: missing required key 'type' in field 'age'",
        ])
    }

    @Test func unknownOptionKeySuggestsTheClosestOption() {
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "  bio: { type: text, max_lenght: 10 }\n")) == [
            "schema/agents.yaml:4:22: error: unknown key 'max_lenght' in field 'bio' (did you mean 'max_length'?)",
        ])
    }

    @Test func wrongOptionValueTypesAreErrors() {
        let yaml = Fixture.agent(fields: """
              bio: { type: string, required: yes please, max_length: "ten" }
              age: { type: integer, minimum: low }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:34: error: expected true or false for 'required', found the string 'yes please'",
            "schema/agents.yaml:4:58: error: expected an integer for 'max_length', found the string 'ten'",
            "schema/agents.yaml:5:34: error: expected a number for 'minimum', found the string 'low'",
        ])
    }

    @Test func optionsMustApplyToTheType() {
        let yaml = Fixture.agent(fields: """
              age: { type: integer, max_length: 3, filter: true }
              bio: { type: text, minimum: 1, filter: true, search: A }
              flag: { type: boolean, values: [a], min_items: 1, search: B }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:25: error: 'max_length' applies only to string, text, email and url values, not to 'integer'",
            "schema/agents.yaml:5:22: error: 'minimum' applies only to integer and number values, not to 'text'",
            "schema/agents.yaml:5:34: error: 'filter' is not supported on text fields",
            "schema/agents.yaml:6:26: error: 'values' applies only to enum values, not to 'boolean'",
            "schema/agents.yaml:6:39: error: 'min_items' applies only to array values, not to 'boolean'",
            "schema/agents.yaml:6:53: error: 'search' applies only to string, text, email and url fields, not to 'boolean'",
        ])
    }

    @Test func minimumAboveMaximumIsAnError() {
        let yaml = Fixture.agent(fields: "  bio: { type: string, min_length: 5, max_length: 3 }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:36: error: 'min_length' (5) is greater than 'max_length' (3)",
        ])
    }

    @Test func defaultViolatingMaxLengthIsReportedAtTheDefault() {
        let yaml = Fixture.agent(fields: "  nick: { type: string, max_length: 3, default: toolong }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:49: error: default of 'nick' is too long: 7 characters, max_length is 3",
        ])
    }

    @Test func defaultViolatingMinimumIsReportedAtTheDefault() {
        let yaml = Fixture.agent(fields: "  size: { type: integer, minimum: 1, maximum: 100, default: 0 }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:61: error: default of 'size' is too small: 0, minimum is 1",
        ])
    }

    @Test func defaultOutsideTheEnumSuggestsAValue() {
        let yaml = Fixture.agent(fields: "  model: { type: enum, values: [claude, gpt], default: cluade }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:56: error: default of 'model' is 'cluade', which is not one of claude, gpt (did you mean 'claude'?)",
        ])
    }

    @Test func defaultOfTheWrongTypeIsAnError() {
        let yaml = Fixture.agent(fields: """
              size: { type: integer, default: "10" }
              ratio: { type: number, default: true }
              tags: { type: array, items: { type: string, max_length: 3 }, default: [ab, abcd] }
              when: { type: date, default: 2026-02-30 }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:35: error: default of 'size' must be an integer, found the string '10'",
            "schema/agents.yaml:5:35: error: default of 'ratio' must be a number, found the boolean true",
            "schema/agents.yaml:6:78: error: default of 'tags' item 1 is too long: 4 characters, max_length is 3",
            "schema/agents.yaml:7:32: error: default of 'when' must be a date (YYYY-MM-DD), found the string '2026-02-30'",
        ])
    }

    @Test func defaultsAreConvertedToTheFieldType() throws {
        let yaml = Fixture.agent(fields: """
              ratio: { type: number, default: 1 }
              tags: { type: array, items: { type: enum, values: [a, b] }, default: [a, b] }
              meta: { type: object, default: { x: 1, y: [true, null] } }
              note: { type: string, nullable: true, default: null, example: hello }

            """)
        let agent = try #require(Fixture.resource(yaml))
        #expect(agent.field(named: "ratio")?.defaultValue == .number(1))
        #expect(agent.field(named: "tags")?.defaultValue == .array([.string("a"), .string("b")]))
        #expect(agent.field(named: "meta")?.defaultValue == .object([("x", .integer(1)), ("y", .array([.bool(true), .null]))]))
        #expect(agent.field(named: "note")?.defaultValue == .null)
        #expect(agent.field(named: "note")?.example == .string("hello"))
    }

    @Test func nullDefaultNeedsANullableField() {
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "  bio: { type: string, default: null }\n")) == [
            "schema/agents.yaml:4:33: error: default of 'bio' is null, but the field is not nullable",
        ])
    }

    @Test func exampleIsTypeChecked() {
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "  site: { type: url, example: not a url }\n")) == [
            "schema/agents.yaml:4:31: error: example of 'site' is 'not a url', which is not an absolute URL",
        ])
    }

    @Test func enumNeedsUniqueSnakeCaseValues() {
        let yaml = Fixture.agent(fields: """
              mood: { type: enum, values: [happy, Sad, happy] }
              kind: { type: enum }
              size: { type: enum, values: [] }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:39: error: enum value 'Sad' must be snake_case: a lowercase letter followed by lowercase letters, digits or '_'",
            "schema/agents.yaml:4:44: error: duplicate enum value 'happy'",
            "schema/agents.yaml:5:3: error: field 'kind' has type 'enum' and needs 'values': a list of the allowed values",
            "schema/agents.yaml:6:31: error: 'values' of an enum must list at least one value",
        ])
    }

    @Test func arrayNeedsItemsAndItemsAcceptOnlyValueKeys() {
        let yaml = Fixture.agent(fields: """
              tags: { type: array }
              ids: { type: array, items: { type: uuid, unique: true } }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:3: error: field 'tags' has type 'array' and needs 'items', e.g. items: { type: string }",
            "schema/agents.yaml:5:44: error: unknown key 'unique' in items of field 'ids'",
        ])
    }

    @Test func invalidPatternIsAnError() {
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "  code: { type: string, pattern: '[a-' }\n")) == [
            "schema/agents.yaml:4:34: error: 'pattern' is not a valid regular expression: '[a-'",
        ])
    }

    @Test func defaultMustMatchThePattern() {
        let yaml = Fixture.agent(fields: "  code: { type: string, pattern: '^[A-Z]+$', default: abc }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:55: error: default of 'code' is 'abc', which does not match pattern '^[A-Z]+$'",
        ])
    }

    @Test func fieldNamesMustBeSnakeCaseAndNotImplicit() {
        let yaml = Fixture.agent(fields: """
              displayName: { type: string }
              created_at: { type: datetime }
              search_vector: { type: text }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:3: error: field name 'displayName' must be snake_case: a lowercase letter followed by lowercase letters, digits or '_'",
            "schema/agents.yaml:5:3: error: 'created_at' is an implicit column of every resource; remove this field",
            "schema/agents.yaml:6:3: error: field name 'search_vector' is reserved for the generated full-text search column",
        ])
    }

    @Test func referencesNeedAUuidAndSetNullNeedsAnOptionalField() {
        let yaml = """
            resource: Agent
            fields:
              owner: { type: string, references: agents }
              parent_id: { type: uuid, required: true, references: agents, on_delete: set_null }
              other_id: { type: uuid, on_delete: cascade }
            """
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:3:26: error: field 'owner' has 'references' and must have type 'uuid', not 'string'",
            "schema/agents.yaml:4:64: error: 'on_delete: set_null' needs an optional field, but 'parent_id' is required",
            "schema/agents.yaml:5:27: error: 'on_delete' needs 'references'",
        ])
    }

    @Test func referencesDefaultToNoAction() throws {
        let agent = try #require(Fixture.resource("resource: Agent\nfields:\n  parent_id: { type: uuid, references: agents }\n"))
        #expect(agent.field(named: "parent_id")?.onDelete == .noAction)
        #expect(agent.field(named: "parent_id")?.isOptional == true)
    }

    @Test func conflictingFlagsAreErrors() {
        let yaml = Fixture.agent(fields: """
              code: { type: string, required: true, default: x }
              slug: { type: string, read_only: true, required: true, write_once: true }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:41: error: a required field cannot have a default (it would never be used); remove one of them",
            "schema/agents.yaml:5:25: error: a read_only field is set by the server and cannot be required",
            "schema/agents.yaml:5:58: error: 'read_only' and 'write_once' cannot both be set: read_only fields are never written by clients",
        ])
    }

    @Test func everyErrorInOneFileIsReportedInOneRun() {
        let yaml = """
            resource: Agent
            fields:
              name: { type: strng, required: true }
              bio: { type: text, max_lenght: 10 }
              age: { type: integer, default: old }
            operations: [list, gte]
            cache: { ttl: soon }
            """
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:3:17: error: unknown field type 'strng' (did you mean 'string'?)",
            "schema/agents.yaml:4:22: error: unknown key 'max_lenght' in field 'bio' (did you mean 'max_length'?)",
            "schema/agents.yaml:5:34: error: default of 'age' must be an integer, found the string 'old'",
            "schema/agents.yaml:6:20: error: unknown operation 'gte' (did you mean 'get'?); expected one of: list, get, create, update, delete, search",
            "schema/agents.yaml:7:15: error: invalid duration 'soon' for 'ttl': use seconds or a number followed by s, m, h or d (e.g. 120s, 5m, 1h, 2d)",
        ])
    }
}
