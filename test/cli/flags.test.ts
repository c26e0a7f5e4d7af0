import { afterEach, describe, expect, it } from 'vitest'
import { formatStatus } from '../../src/cli/status.js'
import { type FlagSpec, describeFlags, readFlags } from '../../src/cli/flags.js'

const specs: FlagSpec[] = [
  { name: 'port', env: 'SKEIN_TEST_PORT', placeholder: 'port', defaultValue: '7071', help: 'port' },
  { name: 'seeds', env: 'SKEIN_TEST_SEEDS', placeholder: 'list', help: 'seeds' },
]

afterEach(() => {
  delete process.env['SKEIN_TEST_PORT']
  delete process.env['SKEIN_TEST_SEEDS']
})

describe('readFlags', () => {
  it('prefers the command line, then SKEIN_* variables, then the default', () => {
    expect(readFlags([], specs).values).toEqual({ port: '7071', seeds: undefined })
    process.env['SKEIN_TEST_PORT'] = '8000'
    process.env['SKEIN_TEST_SEEDS'] = 'a:1'
    expect(readFlags([], specs).values).toEqual({ port: '8000', seeds: 'a:1' })
    expect(readFlags(['--port', '9000'], specs).values).toEqual({ port: '9000', seeds: 'a:1' })
    expect(readFlags(['--port', '9000'], specs).sources).toEqual({ port: 'cli', seeds: 'env' })
    delete process.env['SKEIN_TEST_SEEDS']
    expect(readFlags([], specs).sources).toEqual({ port: 'env', seeds: 'unset' })
  })

  it('treats an empty variable as unset', () => {
    process.env['SKEIN_TEST_PORT'] = ''
    expect(readFlags([], specs).values['port']).toBe('7071')
  })

  it('rejects unknown flags and stray arguments', () => {
    expect(() => readFlags(['--nope', 'x'], specs)).toThrow(/Unknown option/)
    expect(() => readFlags(['stray'], specs)).toThrow()
  })

  it('reads switches', () => {
    expect(readFlags(['--json'], specs, [{ name: 'json', help: '' }]).switches).toEqual({ json: true })
  })

  it('documents each flag with its variable and default', () => {
    const text = describeFlags(specs)
    expect(text).toContain('--port <port>')
    expect(text).toContain('(default 7071); env SKEIN_TEST_PORT')
  })
})

describe('formatStatus', () => {
  it('prints a summary line and one aligned row per member', () => {
    const text = formatStatus('127.0.0.1:7071', {
      node: 'n1',
      members: [
        { id: 'n1', address: '127.0.0.1:7071', state: 'alive', incarnation: 0, zone: 'a' },
        { id: 'n22', address: '127.0.0.1:7072', state: 'dead', incarnation: 3 },
      ],
    })
    expect(text.split('\n')).toEqual([
      'node n1 at 127.0.0.1:7071: 1 alive, 1 dead',
      'ID   ADDRESS         STATE  INCARNATION  ZONE',
      'n1   127.0.0.1:7071  alive  0            a',
      'n22  127.0.0.1:7072  dead   3',
      '',
    ])
  })

  it('adds the metadata quorum and a row per hosted partition when the node runs a broker', () => {
    const text = formatStatus('127.0.0.1:7071', {
      node: 'n1',
      members: [{ id: 'n1', address: '127.0.0.1:7071', state: 'alive', incarnation: 0 }],
      controllers: ['n1', 'n2', 'n3'],
      partitions: [
        { topic: 'orders', partition: 0, role: 'leader', term: 3, leader: 'n1', highWatermark: 120, logEndOffset: 121, logStartOffset: 0 },
        { topic: 'orders', partition: 1, role: 'follower', term: 2, leader: null, highWatermark: 7, logEndOffset: 7, logStartOffset: 0 },
      ],
    })
    expect(text.split('\n').slice(4)).toEqual([
      'metadata quorum: n1, n2, n3',
      '',
      'partitions hosted: 2',
      'TOPIC   PARTITION  ROLE      TERM  LEADER  HIGH-WATERMARK  LOG-END  LOG-START',
      'orders  0          leader    3     n1      120             121      0',
      'orders  1          follower  2     -       7               7        0',
      '',
    ])
  })
})
