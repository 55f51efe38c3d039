// Runs a state machine definition locally with aws-local-stepfunctions, its Lambda tasks calling a
// Lambda Invoke API (the emulator's `invoke_api`, which runs the real function binaries).
//
// Standard input: {"definition": "<path>", "substitutions": {...}, "input": {...},
//                  "lambdaEndpoint": "http://127.0.0.1:PORT", "s3Endpoint"?: "http://127.0.0.1:PORT",
//                  "timeScale"?: <number above 0, default 1>}
// Standard output, one JSON object: {"status": "SUCCEEDED" | "FAILED" | "TIMED_OUT", "output",
//   "error", "cause", "states": [names entered, in order], "retries": [{"state", "error"}],
//   "caught": [{"state", "error"}], "iterations": [{"index", "status", "states", "retries",
//   "caught", and "output" or "error" and "cause"}], "tasks": {"<state>": {"invocations",
//   "maxInFlight", and for a callback task "callbacks"}}}.
// `states`, `retries` and `caught` are those of the top-level states; `iterations` holds the same
// for each item of a Map state, by the item's index (empty without a Map); `tasks` counts each Task
// state's invocations (retries included) and the most of them under way at once.
// Standard error: its first line is `callback endpoint: http://127.0.0.1:PORT` (see below), printed
// before the run starts; then a line `waiting for callback: {"state", "taskToken"}` each time the
// function of a callback task has returned; anything else is diagnostics.
//
// Task states of the `arn:aws:states:::lambda:invoke` integration get a local handler that does what
// the integration does: it invokes `FunctionName` with `Payload`, returns
// {"ExecutedVersion", "Payload", "StatusCode"} (so `ResultSelector` sees `$.Payload` as in AWS),
// and turns a function error into an error named by its errorType (Lambda.Unknown for Lambda's own
// Runtime.* and Sandbox.* errors, as Step Functions names them), whose cause is the error payload
// as a JSON string. That holds at any depth: the states of a Map's `ItemProcessor` (or `Iterator`)
// and of a Parallel's branches are bound too. Wait states and retry intervals take 0 ms; everything
// else runs as aws-local-stepfunctions runs it. Of a Map in DISTRIBUTED mode it runs the items as
// an inline Map does, each as a nested execution, with `ItemsPath`, `ItemSelector` and
// `MaxConcurrency`/`MaxConcurrencyPath`; it ignores `ProcessorConfig`, `Label`,
// `ToleratedFailurePercentage`/`Count` (and their paths: any failed item fails the Map) and
// `ItemBatcher` (docs/testing.md).
//
// Callback tasks (`arn:aws:states:::lambda:invoke.waitForTaskToken`, tools/task-tokens.mjs): each
// entry of such a task (each retry too) gets a fresh, unguessable task token, put wherever its
// Parameters name `"<key>.$": "$$.Task.Token"`; the function is invoked with the payload as above
// (its error fails the state, before any wait), then the task waits for a callback, whose output
// (parsed JSON) is the state's result. The callback comes through a loopback server the runner
// starts before the run and stops when it ends, speaking Step Functions' API as the AWS CLI and SDKs
// call it (AWS JSON 1.0, `POST /`, `X-Amz-Target: AWSStepFunctions.<action>`; signatures are not
// checked): point a client at it with `AWS_ENDPOINT_URL_SFN`. SendTaskSuccess {taskToken, output}
// resolves the task (`output` not JSON: InvalidOutput); SendTaskFailure {taskToken, error?, cause?}
// fails it with that error name (none given: a failure with no name, `{"Error": null, "Cause":
// null}`, which only `States.ALL` and `States.TaskFailed` catch, as in AWS); SendTaskHeartbeat
// {taskToken} is counted and restarts the heartbeat. A token never given out, or of a task that has
// ended, answers TaskDoesNotExist; of a task that timed out, TaskTimedOut (HTTP 400, `{"__type",
// "message"}`). `TimeoutSeconds`/`TimeoutSecondsPath` (default 99999999) and `HeartbeatSeconds`/
// `HeartbeatSecondsPath`, each multiplied by `timeScale`, end the wait with `States.Timeout` (Cause
// "") or `States.HeartbeatTimeout`; Retry and Catch treat them as AWS does (`States.TaskFailed`
// does not match States.Timeout). A callback that comes while the function still runs is taken
// once it has returned. The report lists each entry under `tasks.<state>.callbacks`: {"taskToken",
// "status": "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "HEARTBEAT_TIMED_OUT" | "FUNCTION_FAILED" |
// "ABORTED" (still waiting when the run ended), "heartbeats", "payload" (as sent to the function),
// and "output", or "error" and "cause"}.
//
// A Map's `ItemReader` (`arn:aws:states:::s3:getObject`, `InputType` JSONL or JSON) and
// `ResultWriter` (`arn:aws:states:::s3:putObject`) run against the S3 endpoint of the request
// (`s3Endpoint`, moto's server), as Step Functions runs them: the reader fetches the object its
// `Parameters` name and the Map iterates its items; the writer puts the children's results as
// Step Functions lays them out (`<Prefix>/<map run id>/manifest.json` and `SUCCEEDED_0.json`, each
// child with its `Input` and `Output` as JSON text), and the Map's result becomes
// `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}`. Each is a state of its own around the
// Map, named after it; the report shows the Map's name alone. The children's `Input` is the item
// as read (the definitions' `ItemSelector`s keep every member).

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
const callbacks = await import('./task-tokens.mjs');
const { namedError } = callbacks;

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

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
      // Lambda's own errors of a function that did not answer (its runtime ended: Runtime.ExitError,
      // Runtime.OutOfMemory; or past its timeout: Sandbox.Timedout) reach Step Functions as
      // Lambda.Unknown, as the Step Functions guide says of unhandled errors; the function's own
      // errors keep their errorType.
      const own = payload?.errorType;
      const unhandled = own === undefined || /^(Runtime|Sandbox)\./.test(own);
      throw namedError(unhandled ? 'Lambda.Unknown' : own, text);
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
const timeScale = request.timeScale ?? 1;
if (typeof timeScale !== 'number' || !Number.isFinite(timeScale) || timeScale <= 0) {
  throw new Error(`timeScale must be a number above 0, not ${JSON.stringify(request.timeScale)}`);
}

const S3_GET_OBJECT = 'arn:aws:states:::s3:getObject';
const S3_PUT_OBJECT = 'arn:aws:states:::s3:putObject';
/** The suffixes of the states that stand for a Map's ItemReader, its iteration and its ResultWriter. */
const MAP_OF = ' (Map)';
const WRITER_OF = ' (ResultWriter)';

let s3Client;
/** The S3 client of the state machine's role: moto's server, with its stand-in credentials. */
async function s3() {
  if (!request.s3Endpoint) throw namedError('States.Runtime', 'the definition reads or writes S3, but the request names no s3Endpoint');
  if (!s3Client) {
    const { S3Client } = await import('@aws-sdk/client-s3');
    s3Client = new S3Client({
      endpoint: request.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
  }
  return s3Client;
}

/** ItemReader: the object's items, a JSON array or JSON Lines. */
function itemReader(config) {
  return async ({ Bucket, Key }) => {
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    let text;
    try {
      const object = await (await s3()).send(new GetObjectCommand({ Bucket, Key }));
      text = await object.Body.transformToString();
    } catch (error) {
      throw namedError('States.ItemReaderFailed', `GetObject s3://${Bucket}/${Key}: ${error.name}: ${error.message}`);
    }
    if (config.InputType === 'JSONL') return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
    return JSON.parse(text);
  };
}

let mapRuns = 0;
/** ResultWriter: the children's results in S3, laid out as Step Functions writes them. */
function resultWriter(mapName) {
  return async ({ Bucket, Prefix, items, results }) => {
    const run = `${String(++mapRuns).padStart(8, '0')}-0000-4000-8000-000000000000`;
    const mapRunArn = `arn:aws:states:us-east-1:123456789012:mapRun:local/${mapName}:${run}`;
    const prefix = Prefix === undefined || Prefix === '' ? '' : Prefix.endsWith('/') ? Prefix : `${Prefix}/`;
    const now = new Date().toISOString();
    const children = results.map((output, index) => ({
      ExecutionArn: `arn:aws:states:us-east-1:123456789012:execution:local/${mapName}:${run}-${index}`,
      Input: JSON.stringify(items[index]),
      InputDetails: { Included: true },
      Name: `${run}-${index}`,
      Output: JSON.stringify(output),
      OutputDetails: { Included: true },
      RedriveCount: 0,
      RedriveStatus: 'NOT_REDRIVABLE',
      RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven',
      StartDate: now,
      StateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:local/${mapName}`,
      Status: 'SUCCEEDED',
      StopDate: now,
    }));
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const put = async (key, body) => {
      try {
        await (await s3()).send(new PutObjectCommand({ Bucket, Key: key, Body: body }));
      } catch (error) {
        throw namedError('States.ResultWriterFailed', `PutObject s3://${Bucket}/${key}: ${error.name}: ${error.message}`);
      }
      return Buffer.byteLength(body);
    };
    const succeeded = `${prefix}${run}/SUCCEEDED_0.json`;
    const size = await put(succeeded, JSON.stringify(children));
    const manifestKey = `${prefix}${run}/manifest.json`;
    const manifest = {
      DestinationBucket: Bucket,
      MapRunArn: mapRunArn,
      ResultFiles: { FAILED: [], PENDING: [], SUCCEEDED: children.length === 0 ? [] : [{ Key: succeeded, Size: size }] },
    };
    await put(manifestKey, JSON.stringify(manifest));
    return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket, Key: manifestKey } };
  };
}

const s3Handlers = {};
/** Puts a Map's ItemReader and ResultWriter into states of their own around it (see the top). */
function expandS3(machine) {
  for (const [name, state] of Object.entries({ ...machine.States })) {
    if (state.Type === 'Parallel') state.Branches.forEach(expandS3);
    if (state.Type !== 'Map') continue;
    expandS3(state.ItemProcessor ?? state.Iterator);
    const { ItemReader: reader, ResultWriter: writer, ...map } = state;
    if (!reader && !writer) continue;
    delete machine.States[name];
    // With a reader, the reader takes the Map's name, so that every transition into the Map reads
    // its items first.
    const mapName = reader ? name + MAP_OF : name;
    if (reader) {
      if (reader.Resource !== S3_GET_OBJECT) throw new Error(`state ${name}: an ItemReader of ${reader.Resource} cannot run locally`);
      machine.States[name] = { Type: 'Task', Resource: S3_GET_OBJECT, Parameters: reader.Parameters, ResultPath: '$.__items__', Next: mapName };
      s3Handlers[name] = itemReader(reader.ReaderConfig ?? {});
      map.ItemsPath = '$.__items__';
    }
    if (writer) {
      if (writer.Resource !== S3_PUT_OBJECT) throw new Error(`state ${name}: a ResultWriter of ${writer.Resource} cannot run locally`);
      const writerName = name + WRITER_OF;
      const { Next: next, End: end, ResultPath: resultPath } = map;
      machine.States[writerName] = {
        Type: 'Task',
        Resource: S3_PUT_OBJECT,
        Parameters: { ...writer.Parameters, 'items.$': map.ItemsPath ?? '$', 'results.$': '$.__results__' },
        ResultPath: resultPath ?? '$',
        ...(end ? { End: true } : { Next: next }),
      };
      s3Handlers[writerName] = resultWriter(name);
      Object.assign(map, { ResultPath: '$.__results__', Next: writerName });
      delete map.End;
    }
    machine.States[mapName] = map;
  }
}
expandS3(definition);
/** The name the report shows for a state: the Map's own for the states standing for its parts. */
const shown = (name) => (name.endsWith(WRITER_OF) || name.endsWith(MAP_OF) ? null : name);

// aws-local-stepfunctions looks the overrides up by state name, at every depth; so a name must
// mean one state in the whole definition.
const taskResourceLocalHandlers = {};
const waitTimeOverrides = {};
const retryIntervalOverrides = {};
const seen = new Set();
const tokens = new callbacks.TaskTokens(timeScale, await callbacks.libraryTimeoutError(StateMachine), (line) => process.stderr.write(`${line}\n`));
const sentinel = callbacks.newSentinel();
const callbackStates = new Set();
function bind(machine) {
  for (const [name, state] of Object.entries(machine.States)) {
    if (seen.has(name)) throw new Error(`state ${name}: the name is used twice, and the local overrides go by name`);
    seen.add(name);
    if (state.Type === 'Task' && s3Handlers[name]) {
      taskResourceLocalHandlers[name] = s3Handlers[name];
    } else if (state.Type === 'Task' && state.Resource === callbacks.WAIT_FOR_TASK_TOKEN) {
      machine.States[name] = callbacks.rewriteCallbackTask(name, state, sentinel);
      callbackStates.add(name);
      taskResourceLocalHandlers[name] = callbacks.callbackTask(tokens, name, sentinel, lambdaInvoke(request.lambdaEndpoint, name));
    } else if (state.Type === 'Task') {
      if (state.Resource !== LAMBDA_INVOKE) {
        throw new Error(`state ${name}: only ${LAMBDA_INVOKE} and ${callbacks.WAIT_FOR_TASK_TOKEN} tasks can run locally, not ${state.Resource}`);
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
// The callback server is up before the run, so that its endpoint is known before any token is.
const { server: callbackServer, endpoint: callbackEndpoint } = await callbacks.startCallbackServer(tokens);
process.stderr.write(`callback endpoint: ${callbackEndpoint}\n`);
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
        if (shown(event.state.name) !== null) scope(event).states.push(event.state.name);
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
tokens.abortOpen();
callbacks.stopCallbackServer(callbackServer);
for (const [name, { invocations, maxInFlight }] of Object.entries(tasks)) {
  report.tasks[name] = { invocations, maxInFlight, ...(callbackStates.has(name) ? { callbacks: tokens.reportOf(name) } : {}) };
}
// A task left waiting when the run ended (a failed Parallel branch's sibling) still holds
// aws-local-stepfunctions' timer: exit once the report is out rather than wait for it.
process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
