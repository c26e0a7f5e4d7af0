import { parseArgs } from 'node:util'

/** One string flag of a command: `--name`, or the `env` variable, or the default. */
export interface FlagSpec {
  readonly name: string
  /** Environment variable read when the flag is absent (SKEIN_*). */
  readonly env: string
  readonly defaultValue?: string
  readonly placeholder: string
  readonly help: string
}

/** Boolean switches (`--json`) have no environment variable. */
export interface SwitchSpec {
  readonly name: string
  readonly help: string
}

/** Where a flag's value came from; the command line outranks the environment. */
export type FlagSource = 'cli' | 'env' | 'default' | 'unset'

export interface ParsedFlags {
  values: Record<string, string | undefined>
  sources: Record<string, FlagSource>
  switches: Record<string, boolean>
}

/**
 * Reads flags with the precedence operators expect: the command line, then the SKEIN_*
 * environment, then the default. Unknown flags and stray arguments are usage errors.
 */
export function readFlags(argv: string[], specs: readonly FlagSpec[], switchSpecs: readonly SwitchSpec[] = []): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean' }> = {}
  for (const spec of specs) options[spec.name] = { type: 'string' }
  for (const spec of switchSpecs) options[spec.name] = { type: 'boolean' }
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false })
  const result: ParsedFlags = { values: {}, sources: {}, switches: {} }
  for (const spec of specs) {
    const fromCli = values[spec.name]
    const fromEnv = process.env[spec.env]
    if (typeof fromCli === 'string') {
      result.values[spec.name] = fromCli
      result.sources[spec.name] = 'cli'
    } else if (fromEnv !== undefined && fromEnv !== '') {
      result.values[spec.name] = fromEnv
      result.sources[spec.name] = 'env'
    } else {
      result.values[spec.name] = spec.defaultValue
      result.sources[spec.name] = spec.defaultValue === undefined ? 'unset' : 'default'
    }
  }
  for (const spec of switchSpecs) result.switches[spec.name] = values[spec.name] === true
  return result
}

/** The options block of a command's help text, one line per flag with its variable and default. */
export function describeFlags(specs: readonly FlagSpec[], switchSpecs: readonly SwitchSpec[] = []): string {
  const rows = specs.map((s) => [`--${s.name} <${s.placeholder}>`, `${s.help}${s.defaultValue !== undefined ? ` (default ${s.defaultValue})` : ''}; env ${s.env}`])
  for (const s of switchSpecs) rows.push([`--${s.name}`, s.help])
  const width = Math.max(...rows.map((r) => (r[0] as string).length)) + 2
  return rows.map(([flag, help]) => `  ${(flag as string).padEnd(width)}${help}`).join('\n')
}
