// Runs a state machine definition locally with aws-local-stepfunctions, its Lambda tasks calling a
// Lambda Invoke API (the emulator's `invoke_api`, which runs the real function binaries).
//
// Standard input: {"definition": "<path>", "substitutions": {...}, "input": {...},
//                  "lambdaEndpoint": "http://127.0.0.1:PORT"}
// Standard output, one JSON object: {"status": "SUCCEEDED" | "FAILED" | "TIMED_OUT", "output",
//   "error", "cause", "states": [names entered, in order], "retries": [{"state", "error"}],
//   "caught": [{"state", "error"}]}.
//
// Task states of the `arn:aws:states:::lambda:invoke` integration get a local handler that does what
// the integration does: it invokes `FunctionName` with `Payload`, returns
// {"ExecutedVersion", "Payload", "StatusCode"} (so `ResultSelector` sees `$.Payload` as in AWS),
// and turns a function error into an error named by its errorType, whose cause is the error payload
// as a JSON string. Wait states and retry intervals take 0 ms; everything else runs as defined.

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

function lambdaInvoke(endpoint) {
  return async ({ FunctionName, Payload }) => {
    const url = `${endpoint}/2015-03-31/functions/${encodeURIComponent(FunctionName)}/invocations`;
    let response;
    try {
      response = await fetch(url, { method: 'POST', body: JSON.stringify(Payload ?? {}) });
    } catch (error) {
      throw namedError('Lambda.SdkClientException', `${url}: ${error.message}`);
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

const taskResourceLocalHandlers = {};
const waitTimeOverrides = {};
const retryIntervalOverrides = {};
for (const [name, state] of Object.entries(definition.States)) {
  if (state.Type === 'Task') {
    if (state.Resource !== LAMBDA_INVOKE) {
      throw new Error(`state ${name}: only ${LAMBDA_INVOKE} tasks can run locally, not ${state.Resource}`);
    }
    taskResourceLocalHandlers[name] = lambdaInvoke(request.lambdaEndpoint);
  }
  if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
  if (state.Retry) retryIntervalOverrides[name] = 0;
}

const machine = new StateMachine(definition);
const execution = machine.run(request.input, {
  overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
});

const report = { status: 'SUCCEEDED', output: null, error: null, cause: null, states: [], retries: [], caught: [] };
const collecting = (async () => {
  for await (const event of execution.eventLogs) {
    switch (event.type) {
      case 'StateEntered':
        report.states.push(event.state.name);
        break;
      case 'StateRetried':
        report.retries.push({ state: event.state.name, error: report.lastError ?? null });
        break;
      case 'StateFailed':
        report.lastError = event.Error;
        break;
      case 'StateCaught':
        report.caught.push({ state: event.state.name, error: report.lastError ?? null });
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
delete report.lastError;
process.stdout.write(JSON.stringify(report) + '\n');
