import type { Clock } from '../env/index.js'
import { ClientErrorReason, SkeinClientError } from './errors.js'

/**
 * `promise`, or a REQUEST_TIMED_OUT SkeinClientError (retriable) once `timeoutMs` has passed
 * on `clock`. The operation itself is not cancelled; its late outcome is dropped.
 */
export function withTimeout<T>(clock: Clock, promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimer(timeoutMs, () => {
      reject(new SkeinClientError(ClientErrorReason.TIMED_OUT, `${what} did not complete within ${timeoutMs} ms`))
    })
    promise.then(
      (value) => {
        timer.cancel()
        resolve(value)
      },
      (error: unknown) => {
        timer.cancel()
        reject(error)
      },
    )
  })
}

/** A promise with its settle functions, for results that arrive through callbacks. */
export interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
