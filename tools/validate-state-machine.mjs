// Validates a state machine definition with asl-validator, after substituting its placeholders.
// Standard input: {"definition": "<path>", "substitutions": {...}}.
// Prints {"isValid": bool, "errors": [...]} and exits 0 when the definition is valid, 1 otherwise.
import { createRequire } from 'node:module';
import { loadDefinition, readStdinJson } from './definition.mjs';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator');

const request = await readStdinJson();
const definition = loadDefinition(request.definition, request.substitutions);
// The defaults: JSONPath expressions and resource ARNs are checked too.
const { isValid, errors } = aslValidator(definition, { checkPaths: true, checkArn: true });
process.stdout.write(JSON.stringify({ isValid, errors }) + '\n');
process.exitCode = isValid ? 0 : 1;
