// Mocha's spec reporter, plus a JSON file of the counts so scripts/test.sh can add them up
// with other runners' and print the one closing line CI reads.
const Mocha = require("mocha");
const fs = require("node:fs");

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const file = process.env.TEST_SUMMARY_FILE;
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      if (!file) return;
      const { passes, failures, pending } = runner.stats;
      fs.writeFileSync(file, JSON.stringify({ passed: passes, failed: failures, skipped: pending }));
    });
  }
}

module.exports = SummaryReporter;
