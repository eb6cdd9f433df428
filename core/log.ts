import pino, { type Logger } from "pino";

// One JSON line per request. Credentials are redacted wherever they could appear, as a second
// line of defence: the code never logs them on purpose.
const REDACT = [
  "authorization", "*.authorization", "headers.authorization", "*.headers.authorization",
  "api_key", "*.api_key", "*.*.api_key", "apiKey", "*.apiKey", "admin_key", "*.admin_key",
  'headers["x-api-key"]', '*.headers["x-api-key"]', 'headers["x-goog-api-key"]', '*.headers["x-goog-api-key"]',
  "credential", "*.credential", "key", "*.key", "secret", "*.secret",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: "[redacted]" }, timestamp: pino.stdTimeFunctions.epochTime },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  );
}
