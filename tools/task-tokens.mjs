// The callback pattern (`arn:aws:states:::lambda:invoke.waitForTaskToken`) for
// tools/run-state-machine.mjs: the rewrite that lets aws-local-stepfunctions run such a task, the
// task tokens the runner gives out, and the loopback server that answers them as Step Functions'
// SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat do. The contract is in the runner's header
// and in docs/testing.md.
import { createServer } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';

export const WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const TOKEN_PATH = '$$.Task.Token';
/** Members the rewritten Parameters carry the state's timeouts in, taken off again by the handler. */
const TIMEOUT_MEMBER = '__timeoutSeconds__';
const HEARTBEAT_MEMBER = '__heartbeatSeconds__';
/** A Task's TimeoutSeconds when the state names none (the Amazon States Language's default). */
const DEFAULT_TIMEOUT_SECONDS = 99999999;
/** The longest delay Node.js's setTimeout takes; a longer one fires at once. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;
/** Step Functions' limit on SendTaskSuccess's `output`, in characters. */
const OUTPUT_LIMIT = 262144;

/** An error that Retry and Catch match by `name`, as they match an errorType in AWS. */
export function namedError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** A States.Runtime error: the execution fails whatever the state's Retry and Catch say, as in AWS. */
function runtimeError(message) {
  return Object.assign(namedError('States.Runtime', message), { isRetryable: false, isCatchable: false });
}

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The state `name` rewritten so that aws-local-stepfunctions runs it with the local handler of
 * [`callbackTask`]: each `"<key>.$": "$$.Task.Token"` of its Parameters becomes `"<key>":
 * sentinel` (aws-local-stepfunctions' handlers see the state's effective parameters, never the
 * context object), and its TimeoutSeconds(Path) and HeartbeatSeconds(Path) move into the Parameters
 * (so that a path is read from the state's input, as in AWS) for the handler to enforce, scaled.
 * aws-local-stepfunctions' own timer of the task is set past any wait a test makes: left out, it
 * would end every task after 60 seconds.
 */
export function rewriteCallbackTask(name, state, sentinel) {
  if (!isObject(state.Parameters)) throw new Error(`state ${name}: a ${WAIT_FOR_TASK_TOKEN} task needs Parameters`);
  let named = 0;
  const replace = (value) => {
    if (Array.isArray(value)) return value.map(replace);
    if (!isObject(value)) {
      if (typeof value === 'string' && value.includes('$$.Task')) {
        throw new Error(`state ${name}: ${JSON.stringify(value)} cannot run locally: name the token as the path "${TOKEN_PATH}" alone`);
      }
      return value;
    }
    const out = {};
    for (const [key, member] of Object.entries(value)) {
      if (key.endsWith('.$') && member === TOKEN_PATH) {
        out[key.slice(0, -2)] = sentinel;
        named += 1;
      } else {
        out[key] = replace(member);
      }
    }
    return out;
  };
  const parameters = replace(state.Parameters);
  if (named === 0) {
    throw new Error(`state ${name}: a ${WAIT_FOR_TASK_TOKEN} task must pass "${TOKEN_PATH}" in its Parameters, or no callback could name it`);
  }
  const { TimeoutSeconds, TimeoutSecondsPath, HeartbeatSeconds, HeartbeatSecondsPath, ...rest } = state;
  if (TimeoutSeconds !== undefined) parameters[TIMEOUT_MEMBER] = TimeoutSeconds;
  else if (TimeoutSecondsPath !== undefined) parameters[`${TIMEOUT_MEMBER}.$`] = TimeoutSecondsPath;
  if (HeartbeatSeconds !== undefined) parameters[HEARTBEAT_MEMBER] = HeartbeatSeconds;
  else if (HeartbeatSecondsPath !== undefined) parameters[`${HEARTBEAT_MEMBER}.$`] = HeartbeatSecondsPath;
  return { ...rest, Parameters: parameters, TimeoutSeconds: Math.floor(LONGEST_TIMER_MS / 1000) };
}

/** `value` with every string equal to `sentinel` replaced by `token`. */
function withToken(value, sentinel, token) {
  if (value === sentinel) return token;
  if (Array.isArray(value)) return value.map((item) => withToken(item, sentinel, token));
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, withToken(member, sentinel, token)]));
}

/** A timeout of the state: a whole number of seconds from 1, as Step Functions requires. */
function seconds(what, value, fallback) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw runtimeError(`${what} must be a whole number of seconds from 1, not ${JSON.stringify(value)}`);
  return value;
}

/**
 * aws-local-stepfunctions' own States.Timeout error class, which it does not export: its
 * Retry and Catch let `States.TaskFailed` match every error of a Task but an instance of it, as
 * AWS lets it match every error but States.Timeout. A task of 1 ms that never answers throws one.
 */
export async function libraryTimeoutError(StateMachine) {
  const probe = new StateMachine(
    { StartAt: 'Probe', States: { Probe: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:probe', TimeoutSeconds: 0.001, End: true } } },
    { validationOptions: { noValidate: true } },
  );
  const { result } = probe.run({}, { overrides: { taskResourceLocalHandlers: { Probe: () => new Promise(() => {}) } } });
  try {
    await result;
  } catch (error) {
    if (error.cause?.name === 'States.Timeout') return error.cause.constructor;
  }
  throw new Error('aws-local-stepfunctions did not time out a task of 1 ms: its States.Timeout error cannot be had');
}

/** The statuses of a callback task's entry; only the first two take callbacks. */
const OPEN = new Set(['INVOKING', 'WAITING']);
const EXPIRED = new Set(['TIMED_OUT', 'HEARTBEAT_TIMED_OUT']);

/** The task tokens given out in a run, each with its task's entry, kept to the end of the run. */
export class TaskTokens {
  /**
   * @param {number} timeScale what each TimeoutSeconds and HeartbeatSeconds is multiplied by
   * @param {Function} TimeoutError aws-local-stepfunctions' States.Timeout class
   * @param {(line: string) => void} announce prints a line for the caller
   */
  constructor(timeScale, TimeoutError, announce) {
    this.timeScale = timeScale;
    this.TimeoutError = TimeoutError;
    this.announce = announce;
    this.entries = new Map();
  }

  /** A new entry of the callback task `state`, its timers started as the task starts. */
  open(state, timeoutSeconds, heartbeatSeconds) {
    const entry = {
      state,
      taskToken: newToken(),
      status: 'INVOKING',
      heartbeats: 0,
      payload: null,
      answer: Promise.withResolvers(),
      expiry: Promise.withResolvers(),
      timers: {},
    };
    // Either may settle before anyone awaits it (a callback during the invocation, a timeout).
    entry.answer.promise.catch(() => {});
    entry.expiry.promise.catch(() => {});
    entry.timers.timeout = this.timer(timeoutSeconds, () => {
      const error = new this.TimeoutError();
      error.message = ''; // Step Functions' timeouts carry an empty Cause
      this.expire(entry, 'TIMED_OUT', error);
    });
    if (heartbeatSeconds !== null) {
      entry.heartbeatSeconds = heartbeatSeconds;
      entry.timers.heartbeat = this.heartbeatTimer(entry);
    }
    this.entries.set(entry.taskToken, entry);
    return entry;
  }

  timer(secondsToWait, then) {
    return setTimeout(then, Math.min(secondsToWait * 1000 * this.timeScale, LONGEST_TIMER_MS));
  }

  heartbeatTimer(entry) {
    return this.timer(entry.heartbeatSeconds, () => this.expire(entry, 'HEARTBEAT_TIMED_OUT', namedError('States.HeartbeatTimeout', '')));
  }

  expire(entry, status, error) {
    if (!OPEN.has(entry.status)) return;
    this.close(entry, status);
    entry.expiry.reject(error);
  }

  close(entry, status) {
    clearTimeout(entry.timers.timeout);
    clearTimeout(entry.timers.heartbeat);
    entry.status = status;
  }

  /** The function of `entry` returned: the task waits (unless a callback came meanwhile). */
  invoked(entry) {
    if (entry.status === 'INVOKING') entry.status = 'WAITING';
    this.announce(`waiting for callback: ${JSON.stringify({ state: entry.state, taskToken: entry.taskToken })}`);
  }

  /** The entry `token` names, if a callback may answer it; else the error the API answers. */
  find(token) {
    const entry = this.entries.get(token);
    if (entry === undefined) return { error: ['TaskDoesNotExist', 'no task was given this token'] };
    if (EXPIRED.has(entry.status)) {
      return { error: ['TaskTimedOut', `the task of state ${entry.state} ended with ${entry.status === 'TIMED_OUT' ? 'States.Timeout' : 'States.HeartbeatTimeout'}`] };
    }
    if (!OPEN.has(entry.status)) return { error: ['TaskDoesNotExist', `the task of state ${entry.state} has ended (${entry.status})`] };
    return { entry };
  }

  /**
   * Closes the task as succeeded at once (a second answer is refused from now on), and answers
   * how to resume the run: the caller does so once its HTTP answer is sent, so that a run that then
   * ends, and closes the server, cannot cut that answer short.
   */
  succeed(entry, output) {
    this.close(entry, 'SUCCEEDED');
    entry.output = output;
    return () => entry.answer.resolve(output);
  }

  /** As `succeed`, for a failure. */
  fail(entry, error, cause) {
    this.close(entry, 'FAILED');
    Object.assign(entry, { error, cause });
    // An error is named only if the caller named it: Step Functions records a failure sent without
    // one as {"Error": null, "Cause": null}, which `States.ALL` catches.
    const failure = new Error();
    failure.name = error;
    failure.message = cause;
    return () => entry.answer.reject(failure);
  }

  heartbeat(entry) {
    entry.heartbeats += 1;
    if (entry.timers.heartbeat === undefined) return;
    clearTimeout(entry.timers.heartbeat);
    entry.timers.heartbeat = this.heartbeatTimer(entry);
  }

  /** The run has ended: a task still open is aborted, and no timer of ours keeps the process up. */
  abortOpen() {
    for (const entry of this.entries.values()) if (OPEN.has(entry.status)) this.close(entry, 'ABORTED');
  }

  /** What the report shows of each entry of `state`, in the order the tokens were given out. */
  reportOf(state) {
    return [...this.entries.values()]
      .filter((entry) => entry.state === state)
      .map(({ taskToken, status, heartbeats, payload, output, error, cause }) => ({
        taskToken,
        status,
        heartbeats,
        payload,
        ...(status === 'SUCCEEDED' ? { output } : {}),
        ...(status === 'FAILED' ? { error, cause } : {}),
      }));
  }
}

/**
 * The local handler of the callback task `state`: a fresh token for each entry (retries included),
 * put where the Parameters named `$$.Task.Token`; then `invoke` (the lambda:invoke handler) with
 * the payload, whose error fails the task before any wait; then the callback's output is the
 * task's result. Only a timeout ends the task while the function runs: a callback that comes then
 * is kept and taken once the function has returned.
 */
export function callbackTask(tokens, state, sentinel, invoke) {
  return async (input) => {
    const { [TIMEOUT_MEMBER]: timeout, [HEARTBEAT_MEMBER]: heartbeat, ...parameters } = input;
    const entry = tokens.open(state, seconds('TimeoutSeconds', timeout, DEFAULT_TIMEOUT_SECONDS), seconds('HeartbeatSeconds', heartbeat, null));
    const request = withToken(parameters, sentinel, entry.taskToken);
    entry.payload = request.Payload ?? null;
    const answered = invoke(request).then(
      () => {
        tokens.invoked(entry);
        return entry.answer.promise;
      },
      (error) => {
        tokens.close(entry, 'FUNCTION_FAILED');
        throw error;
      },
    );
    return Promise.race([entry.expiry.promise, answered]);
  };
}

/**
 * A fresh, unguessable task token in the form Step Functions gives them: standard base64 beginning
 * with "AQ". Never a leading "-", which the AWS CLI would read as an option in
 * `--task-token <token>`, as an approver pastes it.
 */
function newToken() {
  return 'AQ' + randomBytes(48).toString('base64');
}

/** A fresh sentinel: a text no definition or input holds by chance. */
export const newSentinel = () => `__task_token_${randomUUID()}__`;

const JSON_1_0 = 'application/x-amz-json-1.0';

function respond(response, status, body, errorType) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': JSON_1_0,
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
    ...(errorType ? { 'x-amzn-ErrorType': errorType } : {}),
  });
  response.end(text);
}

/** The answer of one action, or the [errorType, message] it fails with. */
function act(tokens, action, body) {
  const { taskToken } = body;
  if (typeof taskToken !== 'string' || taskToken === '') return { error: ['ValidationException', 'taskToken is required, a string'] };
  let output;
  if (action === 'SendTaskSuccess') {
    if (typeof body.output !== 'string') return { error: ['ValidationException', 'output is required, a string of JSON'] };
    if (body.output.length > OUTPUT_LIMIT) return { error: ['ValidationException', `output is longer than ${OUTPUT_LIMIT} characters`] };
    try {
      output = JSON.parse(body.output);
    } catch (error) {
      return { error: ['InvalidOutput', `output is not JSON: ${error.message}`] };
    }
  }
  for (const member of ['error', 'cause']) {
    if (body[member] !== undefined && body[member] !== null && typeof body[member] !== 'string') {
      return { error: ['ValidationException', `${member} must be a string`] };
    }
  }
  const found = tokens.find(taskToken);
  if (found.error) return found;
  if (action === 'SendTaskSuccess') return { resume: tokens.succeed(found.entry, output) };
  if (action === 'SendTaskFailure') return { resume: tokens.fail(found.entry, body.error ?? null, body.cause ?? null) };
  tokens.heartbeat(found.entry);
  return {};
}

const ACTIONS = new Set(['SendTaskSuccess', 'SendTaskFailure', 'SendTaskHeartbeat']);

/**
 * Starts the callback server on 127.0.0.1, a free port: Step Functions' API as the AWS CLI and
 * SDKs call it (AWS JSON 1.0: `POST /` with `X-Amz-Target: AWSStepFunctions.<action>`), for the
 * three actions that answer a task token. Signatures are not checked (loopback only). Answers the
 * server and its endpoint.
 */
export async function startCallbackServer(tokens) {
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const target = request.headers['x-amz-target'] ?? '';
      const action = target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : null;
      if (request.method !== 'POST' || request.url !== '/' || !ACTIONS.has(action)) {
        respond(response, 400, { __type: 'UnknownOperationException', message: `this server answers POST / with X-Amz-Target AWSStepFunctions.${[...ACTIONS].join('|')}, not ${request.method} ${request.url} ${target}` }, 'UnknownOperationException');
        return;
      }
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (!isObject(body)) throw new Error('the body is not a JSON object');
      } catch (error) {
        respond(response, 400, { __type: 'SerializationException', message: error.message }, 'SerializationException');
        return;
      }
      const { error, resume } = act(tokens, action, body);
      if (error) respond(response, 400, { __type: error[0], message: error[1] }, error[0]);
      else respond(response, 200, {});
      // The run resumes once the answer is sent (or the caller has gone): it may end at once and
      // close the server.
      if (resume) {
        let resumed = false;
        const once = () => {
          if (!resumed) resume();
          resumed = true;
        };
        response.once('finish', once);
        response.once('close', once);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, endpoint: `http://127.0.0.1:${server.address().port}` };
}

/** Stops the server, closing the connections a client keeps alive. */
export function stopCallbackServer(server) {
  server.close();
  server.closeAllConnections();
}
