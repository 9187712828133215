// Starts the Firebase Storage emulator's GCS JSON API without the firebase CLI (which needs Java and downloads a
// rules engine). Security rules only apply to the Firebase API; the GCS API used here ignores them, so the rules
// runtime and manager are replaced by no-ops. Objects live under $TMPDIR/firebase.
// Usage: TMPDIR=DIR node gcs.js HOST PORT
const { StorageEmulator } = require('firebase-tools/lib/emulator/storage');
const { EmulatorRegistry } = require('firebase-tools/lib/emulator/registry');

const [host, port] = process.argv.slice(2);
const noop = async () => undefined;

class GcsOnlyStorageEmulator extends StorageEmulator {
  createRulesManager() {
    return { start: noop, stop: noop, getRuleset: () => undefined };
  }
}

async function main() {
  const emulator = new GcsOnlyStorageEmulator({ projectId: 'spotcheckpoint-test', host, port: Number(port), auto_download: false });
  emulator._rulesRuntime = { start: noop, stop: noop };
  await EmulatorRegistry.start(emulator);
  console.log(`GCS emulator on http://${host}:${port}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
