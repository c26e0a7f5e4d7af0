import { describe, expect, it } from 'vitest'
import { createPinoLogger } from '../../src/env/real/logger.js'

function capture(): { lines: Record<string, unknown>[]; destination: { write(line: string): void } } {
  const lines: Record<string, unknown>[] = []
  return { lines, destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } }
}

describe('createPinoLogger', () => {
  it('info_writesFieldsMessageAndNodeId', () => {
    const { lines, destination } = capture()
    const log = createPinoLogger({ nodeId: 'n1', destination })
    log.info({ partition: 3 }, 'leader elected')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 30, nodeId: 'n1', partition: 3, msg: 'leader elected' })
  })

  it('defaultLevel_isInfo_soDebugIsDropped', () => {
    const { lines, destination } = capture()
    const log = createPinoLogger({ destination })
    log.debug({}, 'hidden')
    log.warn({}, 'shown')
    expect(lines.map((line) => line.msg)).toEqual(['shown'])
  })

  it('child_addsBindings', () => {
    const { lines, destination } = capture()
    const log = createPinoLogger({ level: 'debug', nodeId: 'n2', destination }).child({ component: 'raft' })
    log.debug({ term: 7 }, 'vote granted')
    log.error({}, 'boom')
    expect(lines[0]).toMatchObject({ level: 20, nodeId: 'n2', component: 'raft', term: 7, msg: 'vote granted' })
    expect(lines[1]).toMatchObject({ level: 50, msg: 'boom' })
  })

  it('unknownLevel_throws', () => {
    expect(() => createPinoLogger({ level: 'loud' })).toThrow()
  })
})
