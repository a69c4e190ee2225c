// Command-line options of the bench scripts (bench/run.mjs, bench/flood.mjs, bench/profile.mjs):
// `--name value` pairs and bare `--flag`s, read from process.argv.
//   const { argv, opt, num } = parseArgs();
//   opt("scenario", "seed")  → the value after --scenario, true for a bare --scenario, else the default
//   num("rate", 100)         → the same as a Number (the default when absent)

/** The script's options over `args` (default: process.argv after the script's path). */
export function parseArgs(args = process.argv.slice(2)) {
  function opt(name, dflt) {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return dflt;
    const v = args[i + 1];
    return v === undefined || v.startsWith("--") ? true : v;
  }
  const num = (name, dflt) => (opt(name) === undefined ? dflt : Number(opt(name)));
  return { argv: args, opt, num };
}
