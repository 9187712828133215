// Starts @20minutes/s3rver from its CLI module (the package does not ship the bin it declares).
// Usage: node s3rver.js -d DIR -a 127.0.0.1 -p PORT [--configure-bucket NAME] ...
const { parseAsync } = require('@20minutes/s3rver/lib/cli.js');
parseAsync(process.argv).catch((err) => {
  console.error(err);
  process.exit(1);
});
