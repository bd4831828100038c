import Foundation
import Testing
import TrellisSchema

@Suite("The sample domain in schema/")
struct SampleSchemaTests {
    let model: SchemaModel

    init() throws {
        model = try SchemaLoader.load(directory: Fixture.schemaDirectory)
    }

    @Test func loadsTheFourResourcesSortedByName() {
        #expect(model.resources.map(\.name) == ["Agent", "Message", "Swarm", "Tool"])
        #expect(model.resources.map(\.table) == ["agents", "messages", "swarms", "tools"])
        #expect(model.resources.map(\.path) == ["agents", "messages", "swarms", "tools"])
        #expect(model.resources.map(\.file) == [
            "schema/agents.yaml", "schema/messages.yaml", "schema/swarms.yaml", "schema/tools.yaml",
        ])
    }

    @Test func agentMatchesTheDesignExample() throws {
        let agent = try #require(model.resource(table: "agents"))
        // The design's fields, in its order; fields a user adds after them (the README tour
        // adds `rating`) leave the example intact.
        #expect(agent.fields.map(\.name).prefix(10) == [
            "name", "role", "system_prompt", "model", "temperature", "is_active", "swarm_id", "tags", "config",
            "owner_email",
        ])
        #expect(agent.tenancy == .workspace)
        #expect(agent.sort == ["created_at", "name"])
        #expect(agent.operations == Operation.allCases)
        #expect(agent.scopes == Scopes(read: "agents:read", write: "agents:write"))
        #expect(agent.cache == CachePolicy(ttl: 120, staleWhileRevalidate: 30))
        #expect(agent.rateLimit == RateLimit(perMinute: 600, burst: 60))
        #expect(agent.events && agent.audit)
        #expect(agent.searchFields.map(\.name) == ["name", "role", "system_prompt"])
        #expect(agent.indexes == [Index(
            columns: [IndexColumn(name: "is_active"), IndexColumn(name: "created_at", descending: true)],
            whereClause: "is_active", location: agent.indexes.first?.location ?? agent.location)])

        let name = try #require(agent.field(named: "name"))
        #expect(name.required && !name.isOptional)
        #expect(name.spec == ValueSpec(type: .string, minLength: 1, maxLength: 200))
        #expect(name.search == .A)
        #expect(name.location.description == "schema/agents.yaml:7:3")

        let model = try #require(agent.field(named: "model"))
        #expect(model.type == .enumeration(["claude", "gpt", "gemini"]))
        #expect(model.defaultValue == .string("claude"))
        #expect(model.filter)

        #expect(agent.field(named: "temperature")?.defaultValue == .number(0.7))
        #expect(agent.field(named: "temperature")?.spec.maximum == 2)
        #expect(agent.field(named: "is_active")?.defaultValue == .bool(true))
        let swarm = try #require(agent.field(named: "swarm_id"))
        #expect(swarm.references == "swarms" && swarm.onDelete == .setNull && swarm.isOptional)
        #expect(agent.field(named: "tags")?.type == .array(items: ValueSpec(type: .string, maxLength: 40)))
        #expect(agent.field(named: "tags")?.spec.maxItems == 20)
        #expect(agent.field(named: "owner_email")?.pii == true)
    }

    @Test func swarmToolAndMessageHaveTheirDefaults() throws {
        let swarm = try #require(model.resource(table: "swarms"))
        #expect(swarm.field(named: "max_agents")?.spec == ValueSpec(type: .integer, minimum: 1, maximum: 100))
        #expect(swarm.field(named: "max_agents")?.defaultValue == .integer(10))
        #expect(swarm.operations == Operation.allCases)
        #expect(swarm.sort == ["created_at", "name"])
        #expect(swarm.scopes == Scopes(read: "swarms:read", write: "swarms:write"))
        #expect(swarm.cache == nil && swarm.rateLimit == nil)

        let tool = try #require(model.resource(table: "tools"))
        #expect(tool.operations == [.list, .get, .create, .update, .delete])
        #expect(tool.field(named: "name")?.unique == true)
        #expect(tool.field(named: "enabled")?.defaultValue == .bool(true))

        let message = try #require(model.resource(table: "messages"))
        #expect(message.field(named: "swarm_id")?.onDelete == .cascade)
        #expect(message.field(named: "agent_id")?.onDelete == .setNull)
        #expect(message.field(named: "role")?.type == .enumeration(["user", "assistant", "system", "tool"]))
        #expect(message.field(named: "content")?.search == .A)
        #expect(message.field(named: "tokens")?.defaultValue == .integer(0))
        #expect(message.sort == ["created_at"])
        #expect(message.indexes.map(\.columns) == [
            [IndexColumn(name: "swarm_id"), IndexColumn(name: "created_at", descending: true)],
        ])
    }

    @Test func jobsAndScheduleLoad() throws {
        #expect(model.jobs.map(\.name) == ["agents.generate_summary", "demo.wait", "messages.cleanup", "messages.reindex", "swarms.summarize"])
        let cleanup = try #require(model.jobs.first { $0.name == "messages.cleanup" })
        #expect(cleanup.payload.first?.defaultValue == .integer(30))
        #expect(cleanup.maxAttempts == 20 && cleanup.backoff == Backoff(base: 15, cap: 3600))
        let summarize = try #require(model.jobs.last)
        #expect(summarize.payload.map(\.name) == ["swarm_id"])
        #expect(summarize.payload.first?.required == true)
        let schedule = try #require(model.schedules.first)
        #expect(model.schedules.count == 1)
        #expect(schedule.job == "messages.cleanup" && schedule.timeZone == "UTC")
        #expect(schedule.cron.minutes == [0] && schedule.cron.hours == [3])
        #expect(schedule.cron.daysOfMonth == Array(1...31) && schedule.cron.months == Array(1...12))
        #expect(schedule.cron.daysOfWeek == Array(0...6))
    }

    @Test func apiSettingsLoad() {
        #expect(model.api.title == "Trellis Agent Platform API")
        #expect(model.api.version == "1.0.0")
        #expect(model.api.servers == [ServerEntry(url: "http://127.0.0.1:8080", description: "Local development server")])
        #expect(model.api.maxBodySize == 1_048_576)
        #expect(model.api.defaultPageSize == 20 && model.api.maxPageSize == 100)
        #expect(model.api.rateLimit == RateLimit(perMinute: 1200, burst: 100))
    }
}
