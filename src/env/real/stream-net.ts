import { type Server, type Socket, createServer } from 'node:net'
import type { Logger } from '../logger.js'
import type { Listener, StreamConnection, StreamHandlers, StreamListenOptions } from '../net.js'

/**
 * Raw TCP listening for `Net.listenStream` (the Kafka protocol port): node:net, Nagle off
 * (request/response latency matters more than packet count), one StreamConnection per socket.
 */
export async function listenStream(options: StreamListenOptions, log: Logger): Promise<Listener> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => acceptSocket(socket, options, sockets, log))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (err) => log.error({ err }, 'stream listener error'))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  return { host: options.host, port, close: () => closeServer(server, sockets) }
}

function acceptSocket(socket: Socket, options: StreamListenOptions, sockets: Set<Socket>, log: Logger): void {
  sockets.add(socket)
  socket.setNoDelay(true)
  const remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
  const connection: StreamConnection = {
    remoteAddress,
    write: (data) => {
      if (!socket.destroyed && socket.writable) socket.write(data)
    },
    close: () => {
      socket.end()
      // A peer that stops reading must not hold the socket open forever.
      setTimeout(() => socket.destroy(), STREAM_END_GRACE_MS).unref()
    },
  }
  let handlers: StreamHandlers
  try {
    handlers = options.onConnection(connection)
  } catch (err) {
    log.error({ err, remoteAddress }, 'stream connection refused by its handler')
    socket.destroy()
    sockets.delete(socket)
    return
  }
  socket.on('data', (chunk: Buffer) => handlers.onData(chunk))
  socket.on('error', (err) => log.debug({ err, remoteAddress }, 'stream connection error'))
  socket.once('close', () => {
    sockets.delete(socket)
    handlers.onClose()
  })
}

/** How long a connection we ended may take to flush before its socket is destroyed. */
const STREAM_END_GRACE_MS = 2_000

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy()
  return new Promise((resolve) => server.close(() => resolve()))
}
