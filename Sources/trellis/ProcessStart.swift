import App
import ArgumentParser
import Logging
import TrellisJobs
import TrellisRuntime

/// What `serve` and `worker` do first: read and check the whole configuration (one message
/// per problem, never a secret), then set up the process (event loops as the executor, JSON
/// logs). `withWorker` also reads the worker's `TRELLIS_JOBS_*` settings. Returns the API
/// this deployment serves (``deployedAPI()``) too.
func startProcess(withWorker: Bool) throws -> (APIDefinition, ServerConfiguration, WorkerConfiguration?) {
    let api = try deployedAPI()
    let configuration: ServerConfiguration
    let worker: WorkerConfiguration?
    do {
        configuration = try ServerConfiguration.fromEnvironment()
        // The webhooks queue is served like the jobs.yaml queues, when webhooks are on.
        let definitions = api.scheduledJobs.jobs + (configuration.webhooks.map { [$0.jobDefinition] } ?? [])
        worker = withWorker ? try WorkerConfiguration.fromEnvironment(definitions: definitions) : nil
    } catch {
        throw ValidationError("\(error)")
    }
    if configuration.eventLoopExecutor { TrellisServer.useEventLoopsAsGlobalExecutor() }
    let level = configuration.logLevel
    LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
    return (api, configuration, worker)
}

/// The generated API with this deployment's schedule times (`TRELLIS_JOBS_CRON`).
func deployedAPI() throws -> APIDefinition {
    var api = TrellisApp.api
    do {
        api.schedules = try ScheduleDefinition.retiming(api.schedules)
    } catch {
        throw ValidationError("\(error)")
    }
    return api
}
