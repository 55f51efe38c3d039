// Loads a state machine definition as CloudFormation deploys it: every `${Name}` placeholder is
// replaced by its DefinitionSubstitutions value as text (the definition keeps them all inside
// strings, so it is JSON before and after), then parsed.
import { readFileSync } from 'node:fs';

/**
 * @param {string} path the `.asl.json` file
 * @param {Record<string, string | number>} substitutions placeholder name to value
 * @returns {object} the definition
 */
export function loadDefinition(path, substitutions) {
  const text = readFileSync(path, 'utf8');
  const missing = new Set();
  const substituted = text.replace(/\$\{([A-Za-z0-9_.:]+)\}/g, (_, name) => {
    if (!(name in substitutions)) {
      missing.add(name);
      return '';
    }
    return String(substitutions[name]);
  });
  if (missing.size > 0) {
    throw new Error(`${path}: no substitution for ${[...missing].map((n) => '${' + n + '}').join(', ')}`);
  }
  try {
    return JSON.parse(substituted);
  } catch (error) {
    throw new Error(`${path} is not JSON once its placeholders are substituted: ${error.message}`);
  }
}

/** Reads the whole of standard input as JSON. */
export async function readStdinJson() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}
