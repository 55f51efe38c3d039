// Runs a state machine definition locally with aws-local-stepfunctions, its Lambda tasks calling a
// Lambda Invoke API (the emulator's `invoke_api`, which runs the real function binaries).
//
// Standard input: {"definition": "<path>", "substitutions": {...}, "input": {...},
//                  "lambdaEndpoint": "http://127.0.0.1:PORT"}
// Standard output, one JSON object: {"status": "SUCCEEDED" | "FAILED" | "TIMED_OUT", "output",
//   "error", "cause", "states": [names entered, in order], "retries": [{"state", "error"}],
//   "caught": [{"state", "error"}], "iterations": [{"index", "status", "states", "retries",
//   "caught", and "output" or "error" and "cause"}], "tasks": {"<state>": {"invocations",
//   "maxInFlight"}}}.
// `states`, `retries` and `caught` are those of the top-level states; `iterations` holds the same
// for each item of a Map state, by the item's index (empty without a Map); `tasks` counts each Task
// state's invocations (retries included) and the most of them under way at once.
//
// Task states of the `arn:aws:states:::lambda:invoke` integration get a local handler that does what
// the integration does: it invokes `FunctionName` with `Payload`, returns
// {"ExecutedVersion", "Payload", "StatusCode"} (so `ResultSelector` sees `$.Payload` as in AWS),
// and turns a function error into an error named by its errorType, whose cause is the error payload
// as a JSON string. That holds at any depth: the states of a Map's `ItemProcessor` (or `Iterator`)
// and of a Parallel's branches are bound too. Wait states and retry intervals take 0 ms; everything
// else runs as aws-local-stepfunctions runs it. Of a Map in DISTRIBUTED mode it runs the items as
// an inline Map does, each as a nested execution, with `ItemsPath`, `ItemSelector` and
// `MaxConcurrency`/`MaxConcurrencyPath`; it ignores `ProcessorConfig`, `Label`,
// `ToleratedFailurePercentage`/`Count` (and their paths: any failed item fails the Map),
// `ItemReader`, `ItemBatcher` and `ResultWriter` (docs/testing.md).

// aws-local-stepfunctions calls Promise.withResolvers (Node.js 22); Node.js 20 lacks it.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const { StateMachine } = await import('aws-local-stepfunctions');
const { loadDefinition, readStdinJson } = await import('./definition.mjs');

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

/** An error that Retry and Catch match by `name`, as they match an errorType in AWS. */
function namedError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** Each Task state's invocations, and the most of them under way at once. */
const tasks = {};

function lambdaInvoke(endpoint, stateName) {
  const task = (tasks[stateName] ??= { invocations: 0, maxInFlight: 0, inFlight: 0 });
  return async ({ FunctionName, Payload }) => {
    const url = `${endpoint}/2015-03-31/functions/${encodeURIComponent(FunctionName)}/invocations`;
    task.invocations += 1;
    task.inFlight += 1;
    task.maxInFlight = Math.max(task.maxInFlight, task.inFlight);
    let response;
    try {
      response = await fetch(url, { method: 'POST', body: JSON.stringify(Payload ?? {}) });
    } catch (error) {
      throw namedError('Lambda.SdkClientException', `${url}: ${error.message}`);
    } finally {
      task.inFlight -= 1;
    }
    const text = await response.text();
    if (response.status === 429) throw namedError('Lambda.TooManyRequestsException', text);
    if (response.status >= 500) throw namedError('Lambda.ServiceException', text);
    if (response.status >= 400) {
      const code = response.headers.get('x-amzn-errortype') ?? 'AWSLambdaException';
      throw namedError(`Lambda.${code}`, text);
    }
    const payload = text === '' ? null : JSON.parse(text);
    if (response.headers.get('x-amz-function-error')) {
      throw namedError(payload?.errorType ?? 'Lambda.Unknown', text);
    }
    return {
      ExecutedVersion: response.headers.get('x-amz-executed-version') ?? '$LATEST',
      Payload: payload,
      StatusCode: response.status,
    };
  };
}

const request = await readStdinJson();
const definition = loadDefinition(request.definition, request.substitutions);

// aws-local-stepfunctions looks the overrides up by state name, at every depth; so a name must
// mean one state in the whole definition.
const taskResourceLocalHandlers = {};
const waitTimeOverrides = {};
const retryIntervalOverrides = {};
const seen = new Set();
function bind(machine) {
  for (const [name, state] of Object.entries(machine.States)) {
    if (seen.has(name)) throw new Error(`state ${name}: the name is used twice, and the local overrides go by name`);
    seen.add(name);
    if (state.Type === 'Task') {
      if (state.Resource !== LAMBDA_INVOKE) {
        throw new Error(`state ${name}: only ${LAMBDA_INVOKE} tasks can run locally, not ${state.Resource}`);
      }
      taskResourceLocalHandlers[name] = lambdaInvoke(request.lambdaEndpoint, name);
    }
    if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
    if (state.Retry) retryIntervalOverrides[name] = 0;
    if (state.Type === 'Map') bind(state.ItemProcessor ?? state.Iterator);
    if (state.Type === 'Parallel') state.Branches.forEach(bind);
  }
}
bind(definition);

const machine = new StateMachine(definition);
const execution = machine.run(request.input, {
  overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
});

const report = {
  status: 'SUCCEEDED',
  output: null,
  error: null,
  cause: null,
  states: [],
  retries: [],
  caught: [],
  iterations: [],
  tasks: {},
};
// The last error of the top-level states, and of each item's, for the retry or catch that follows.
const lastErrors = new Map();
const scope = (event) => {
  if (event.index === undefined) return report;
  report.iterations[event.index] ??= { index: event.index, status: 'RUNNING', states: [], retries: [], caught: [] };
  return report.iterations[event.index];
};
const collecting = (async () => {
  for await (const event of execution.eventLogs) {
    switch (event.type) {
      case 'StateEntered':
        scope(event).states.push(event.state.name);
        break;
      case 'StateRetried':
        scope(event).retries.push({ state: event.state.name, error: lastErrors.get(event.index) ?? null });
        break;
      case 'StateFailed':
        lastErrors.set(event.index, event.Error);
        break;
      case 'StateCaught':
        scope(event).caught.push({ state: event.state.name, error: lastErrors.get(event.index) ?? null });
        break;
      case 'MapIterationSucceeded':
        Object.assign(scope(event), { status: 'SUCCEEDED', output: event.output ?? null });
        break;
      case 'MapIterationFailed':
        Object.assign(scope(event), { status: 'FAILED', error: event.Error ?? null, cause: event.Cause ?? null });
        break;
      case 'ExecutionFailed':
        report.status = 'FAILED';
        report.error = event.Error;
        report.cause = event.Cause ?? null;
        break;
      case 'ExecutionTimeout':
        report.status = 'TIMED_OUT';
        break;
      default:
        break;
    }
  }
})();

try {
  report.output = await execution.result;
} catch (error) {
  if (error.name === 'ExecutionTimeoutError') report.status = 'TIMED_OUT';
  else if (report.status === 'SUCCEEDED') {
    report.status = 'FAILED';
    report.error = error.cause?.name ?? error.name;
    report.cause = error.cause?.message ?? error.message;
  }
}
await collecting;
for (const [name, { invocations, maxInFlight }] of Object.entries(tasks)) report.tasks[name] = { invocations, maxInFlight };
process.stdout.write(JSON.stringify(report) + '\n');
