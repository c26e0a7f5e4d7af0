/**
 * The scanner behind test/guard.test.ts: DESIGN.md principle 2 ("one code path, two worlds").
 * Code under src/ (but src/env/real/ and src/cli/) and actors/ must reach time, randomness,
 * disk and network only through its Env, so the simulator can replay it from a seed.
 *
 * It works on text, not on a TypeScript AST, to stay small and fast: a lexer blanks comments
 * and the contents of string, template and regex literals (keeping every offset and newline),
 * then regexes look for forbidden names in what is left. Module specifiers are read back from
 * the literals the lexer recorded. Aliasing (`const D = Date; D.now()`) and computed access
 * (`Date['now']`) get through: the guard catches mistakes, not adversaries.
 */
import { readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'

export interface Violation {
  /** '/'-separated, relative to the directory the scan was asked to report against. */
  readonly file: string
  /** 1-based. */
  readonly line: number
  /** What was found, e.g. "Date.now" or "import 'node:fs'". */
  readonly what: string
}

export function formatViolation(violation: Violation): string {
  return `${violation.file}:${violation.line}: ${violation.what}`
}

/** Names that, as plain code, read the clock, schedule on the host's timers or draw host randomness. */
const forbiddenPatterns: readonly { readonly what: string; readonly pattern: RegExp }[] = [
  { what: 'Date.now', pattern: /(?<![\w$])Date\s*\??\.\s*now(?![\w$])/g },
  { what: 'new Date', pattern: /(?<![\w$])new\s+Date(?![\w$])/g },
  { what: 'performance.now', pattern: /(?<![\w$])performance\s*\??\.\s*now(?![\w$])/g },
  { what: 'Math.random', pattern: /(?<![\w$])Math\s*\??\.\s*random(?![\w$])/g },
  { what: 'process.hrtime', pattern: /(?<![\w$])process\s*\??\.\s*hrtime(?![\w$])/g },
  { what: 'setTimeout', pattern: /(?<![\w$])setTimeout(?![\w$])/g },
  { what: 'setInterval', pattern: /(?<![\w$])setInterval(?![\w$])/g },
  { what: 'setImmediate', pattern: /(?<![\w$])setImmediate(?![\w$])/g },
  // node:crypto itself is allowed (hashes and HMACs are pure); its random sources are not.
  { what: 'randomBytes', pattern: /(?<![\w$])randomBytes(?![\w$])/g },
  { what: 'randomFill', pattern: /(?<![\w$])randomFill(?:Sync)?(?![\w$])/g },
  { what: 'randomUUID', pattern: /(?<![\w$])randomUUID(?![\w$])/g },
  { what: 'randomInt', pattern: /(?<![\w$])randomInt(?![\w$])/g },
  { what: 'getRandomValues', pattern: /(?<![\w$])getRandomValues(?![\w$])/g },
]

/**
 * Modules that touch the world directly, with or without the 'node:' prefix, and their
 * subpaths ('fs/promises', 'pino/file'). `timers` and `perf_hooks` are the module forms of
 * setTimeout and performance.now. pino is here because logging goes through env.log.
 */
const forbiddenModules: ReadonlySet<string> = new Set([
  'fs',
  'net',
  'tls',
  'http',
  'https',
  'http2',
  'dgram',
  'dns',
  'child_process',
  'cluster',
  'worker_threads',
  'os',
  'readline',
  'timers',
  'perf_hooks',
  'ws',
  'pino',
])

export function isForbiddenModule(specifier: string): boolean {
  const withoutPrefix = specifier.startsWith('node:') ? specifier.slice('node:'.length) : specifier
  const packageName = withoutPrefix.split('/')[0] ?? ''
  return forbiddenModules.has(packageName)
}

/**
 * Where a module specifier's opening quote sits, for each import form. Run on the blanked
 * code, so `[\w$*{},\s]` (what can stand between `import` and `from`) cannot run across code.
 */
const specifierPatterns: readonly RegExp[] = [
  // import x from 'm', import type { a } from 'm', import * as m from 'm', export { a } from 'm', export * from 'm'
  /(?<![\w$.])(?:import|export)(?![\w$])[\w$*{},\s]*?(?<![\w$])from\s*(['"])/g,
  // import 'm' (side effects only)
  /(?<![\w$.])import\s*(['"])/g,
  // import('m'), require('m'), import x = require('m')
  /(?<![\w$.])(?:import|require)\s*\(\s*(['"`])/g,
]

/** Scans one file's text. `file` is only used to label the violations. */
export function scanSource(file: string, text: string): Violation[] {
  const { code, literals } = blankCommentsAndLiterals(text)
  const lineOf = lineLocator(text)
  const violations: Violation[] = []
  for (const { what, pattern } of forbiddenPatterns) {
    for (const match of code.matchAll(pattern)) {
      violations.push({ file, line: lineOf(match.index), what })
    }
  }
  for (const pattern of specifierPatterns) {
    for (const match of code.matchAll(pattern)) {
      const quoteIndex = match.index + match[0].length - 1
      const specifier = literals.get(quoteIndex)
      if (specifier !== undefined && isForbiddenModule(specifier)) {
        violations.push({ file, line: lineOf(quoteIndex), what: `import '${specifier}'` })
      }
    }
  }
  return violations.sort(compareViolations)
}

export interface ScanOptions {
  /** Directories to scan, recursively. */
  roots: readonly string[]
  /** Directories to skip, with everything under them. */
  excludeDirs?: readonly string[]
  /** Violations name files relative to this directory. */
  reportRelativeTo: string
}

/** Scans every .ts/.mts/.cts file under the roots. A missing root is scanned as empty. */
export function scanDirectories(options: ScanOptions): Violation[] {
  const excluded = new Set((options.excludeDirs ?? []).map((dir) => path.resolve(dir)))
  const violations: Violation[] = []
  for (const root of options.roots) {
    for (const file of listTypeScriptFiles(path.resolve(root), excluded)) {
      const label = path.relative(options.reportRelativeTo, file).split(path.sep).join('/')
      violations.push(...scanSource(label, readFileSync(file, 'utf8')))
    }
  }
  return violations.sort(compareViolations)
}

function listTypeScriptFiles(dir: string, excluded: ReadonlySet<string>): string[] {
  if (excluded.has(dir)) return []
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return []
    throw error
  }
  const files: string[] = []
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const entryPath = path.join(dir, entry.name)
    if (entry.isDirectory()) files.push(...listTypeScriptFiles(entryPath, excluded))
    else if (entry.isFile() && /\.[mc]?ts$/.test(entry.name)) files.push(entryPath)
  }
  return files
}

function compareViolations(a: Violation, b: Violation): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1
  if (a.line !== b.line) return a.line - b.line
  return a.what < b.what ? -1 : a.what > b.what ? 1 : 0
}

/** Maps a character offset to its 1-based line number. */
function lineLocator(text: string): (index: number) => number {
  const lineStarts = [0]
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1)
  return (index) => {
    let low = 0
    let high = lineStarts.length - 1
    while (low < high) {
      const middle = (low + high + 1) >> 1
      if ((lineStarts[middle] ?? 0) <= index) low = middle
      else high = middle - 1
    }
    return low + 1
  }
}

// ---------------------------------------------------------------------------------------------
// The lexer.

export interface BlankedSource {
  /** The source, same length, with comments and literal contents replaced by spaces (newlines kept). */
  readonly code: string
  /** String literals and substitution-free templates, keyed by the offset of their opening quote. */
  readonly literals: ReadonlyMap<number, string>
}

/** Keywords after which a '/' starts a regex literal rather than a division. */
const keywordsBeforeRegex: ReadonlySet<string> = new Set([
  'return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await',
])
/** Punctuation after which a '/' starts a regex literal rather than a division. */
const punctuationBeforeRegex = '(,=:[!&|?{};+-*%<>~^'

/**
 * Blanks comments and literal contents, keeping offsets. Handles nested template
 * substitutions (`${ `${x}` }`) and tells regex literals from division by the token before.
 */
export function blankCommentsAndLiterals(text: string): BlankedSource {
  const lexer = new Lexer(text)
  lexer.run()
  return { code: lexer.out.join(''), literals: lexer.literals }
}

class Lexer {
  readonly out: string[]
  readonly literals = new Map<number, string>()
  private index = 0
  /** Open `${` substitutions, innermost last: how many '{' are open inside each. */
  private readonly substitutionBraceDepths: number[] = []
  /** The last significant code character and word, for the regex-or-division decision. */
  private lastCodeChar = ''
  private lastWord = ''

  constructor(private readonly text: string) {
    // split(''), not Array.from: offsets must count UTF-16 units, as String.prototype.matchAll does.
    this.out = text.split('')
  }

  run(): void {
    while (this.index < this.text.length) this.step()
  }

  private step(): void {
    const char = this.text[this.index] ?? ''
    const next = this.text[this.index + 1] ?? ''
    if (char === '/' && next === '/') return this.skipLineComment()
    if (char === '/' && next === '*') return this.skipBlockComment()
    if (char === '/' && this.regexAllowed() && this.tryRegex()) return
    if (char === "'" || char === '"') return this.stringLiteral(char)
    if (char === '`') return this.templateLiteral(this.index)
    if (char === '}' && this.closesSubstitution()) return this.templateLiteral(this.index)
    this.codeChar(char)
  }

  private codeChar(char: string): void {
    if (/[\w$]/.test(char)) {
      // Literals and comments never end in a word character, so a word character just before
      // this one was code of the same word.
      const wordContinues = /[\w$]/.test(this.text[this.index - 1] ?? '')
      this.lastWord = wordContinues ? this.lastWord + char : char
    } else if (!/\s/.test(char)) {
      this.lastWord = ''
    }
    if (char === '{' && this.substitutionBraceDepths.length > 0) this.adjustSubstitutionDepth(+1)
    if (char === '}' && this.substitutionBraceDepths.length > 0) this.adjustSubstitutionDepth(-1)
    if (!/\s/.test(char)) this.lastCodeChar = char
    this.index++
  }

  private adjustSubstitutionDepth(delta: number): void {
    const top = this.substitutionBraceDepths.length - 1
    this.substitutionBraceDepths[top] = (this.substitutionBraceDepths[top] ?? 0) + delta
  }

  /** A '}' at depth 0 of the innermost `${` ends the substitution and resumes its template. */
  private closesSubstitution(): boolean {
    const depth = this.substitutionBraceDepths[this.substitutionBraceDepths.length - 1]
    if (depth !== 0) return false
    this.substitutionBraceDepths.pop()
    return true
  }

  private regexAllowed(): boolean {
    if (this.lastCodeChar === '') return true
    if (/[\w$]/.test(this.lastCodeChar)) return keywordsBeforeRegex.has(this.lastWord)
    return punctuationBeforeRegex.includes(this.lastCodeChar)
  }

  private skipLineComment(): void {
    while (this.index < this.text.length && this.text[this.index] !== '\n') this.blank(this.index++)
  }

  private skipBlockComment(): void {
    const end = this.text.indexOf('*/', this.index + 2)
    const stop = end === -1 ? this.text.length : end + 2
    while (this.index < stop) this.blank(this.index++)
  }

  /** Blanks a regex literal's body; returns false (consuming nothing) if the line ends first. */
  private tryRegex(): boolean {
    let cursor = this.index + 1
    let inClass = false
    for (; cursor < this.text.length; cursor++) {
      const char = this.text[cursor]
      if (char === '\n') return false
      if (char === '\\') cursor++
      else if (char === '[') inClass = true
      else if (char === ']') inClass = false
      else if (char === '/' && !inClass) break
    }
    if (cursor >= this.text.length) return false
    for (let i = this.index + 1; i < cursor; i++) this.blank(i)
    this.index = cursor + 1
    // A regex is a value, so a '/' after it divides: ')' says "after a value" to regexAllowed.
    this.lastCodeChar = ')'
    this.lastWord = ''
    return true
  }

  private stringLiteral(quote: string): void {
    const start = this.index
    let value = ''
    let cursor = start + 1
    for (; cursor < this.text.length; cursor++) {
      const char = this.text[cursor] ?? ''
      if (char === quote || char === '\n') break
      if (char === '\\') {
        value += this.text[cursor + 1] ?? ''
        this.blank(cursor)
        this.blank(++cursor)
        continue
      }
      value += char
      this.blank(cursor)
    }
    this.literals.set(start, value)
    this.index = cursor + 1
    this.lastCodeChar = ')'
    this.lastWord = ''
  }

  /**
   * Scans template text from `start` (a '`' opening it, or the '}' closing a substitution)
   * to the closing '`' or the next '${'. Records substitution-free templates as literals.
   */
  private templateLiteral(start: number): void {
    let value = ''
    let cursor = start + 1
    for (; cursor < this.text.length; cursor++) {
      const char = this.text[cursor] ?? ''
      if (char === '`') break
      if (char === '$' && this.text[cursor + 1] === '{') {
        this.substitutionBraceDepths.push(0)
        this.index = cursor + 2
        this.lastCodeChar = '{'
        this.lastWord = ''
        return
      }
      if (char === '\\') {
        value += this.text[cursor + 1] ?? ''
        this.blank(cursor)
        this.blank(++cursor)
        continue
      }
      value += char
      this.blank(cursor)
    }
    if (this.text[start] === '`') this.literals.set(start, value)
    this.index = cursor + 1
    this.lastCodeChar = ')'
    this.lastWord = ''
  }

  /** Replaces one character with a space, keeping newlines so line numbers survive. */
  private blank(i: number): void {
    if (i < this.out.length && this.out[i] !== '\n') this.out[i] = ' '
  }
}
