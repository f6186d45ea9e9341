import { closeCode } from '../errors.js';
import { quoteInput } from '../protocol.js';
import type { StreamState } from './state.js';
import type { StreamWriter } from './writer.js';

/** A client's control message (a text frame), or why it is not one. */
export type Control = { type: 'KeepAlive' | 'Finalize' | 'CloseStream' } | { invalid: string };

export function parseControl(text: string): Control {
  let msg: { type?: unknown };
  try {
    msg = JSON.parse(text) as { type?: unknown };
  } catch {
    return { invalid: 'text frames must be JSON control messages such as {"type":"KeepAlive"}' };
  }
  const type = msg?.type;
  if (type === 'KeepAlive' || type === 'Finalize' || type === 'CloseStream') return { type };
  return {
    invalid: `unknown control message type ${quoteInput(type)}: use KeepAlive, Finalize or CloseStream`,
  };
}

/**
 * How many control messages (text frames) a stream may send: a burst, refilled at a steady rate. Each Finalize
 * costs a decode, a Results and possibly a store write, so a client must not send them by the thousand.
 */
class ControlRate {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Whether one more message is allowed now. */
  take(now = performance.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  describe(): string {
    return `${this.burst} at once or ${this.perSecond}/s`;
  }
}

/**
 * A stream's control messages: past the rate an Error, then 1008 with how to resume; an invalid one gets an
 * Error and is otherwise ignored.
 */
export class Controls {
  private readonly rate: ControlRate;

  constructor(
    config: { controlMessagesPerSecond: number; controlMessageBurst: number },
    private readonly writer: StreamWriter,
    private readonly state: StreamState,
  ) {
    this.rate = new ControlRate(config.controlMessagesPerSecond, config.controlMessageBurst);
  }

  /** The message's type when it is one to act on. */
  accept(text: string): 'KeepAlive' | 'Finalize' | 'CloseStream' | null {
    if (!this.rate.take()) {
      const limit = this.rate.describe();
      this.writer.error('TOO_MANY_MESSAGES', `too many control messages: at most ${limit}`);
      this.state.fail(
        closeCode('TOO_MANY_MESSAGES'),
        this.state.resumeReason(`too many control messages (over ${limit})`),
      );
      return null;
    }
    const msg = parseControl(text);
    if ('type' in msg) return msg.type;
    this.writer.error('INVALID_MESSAGE', msg.invalid);
    return null;
  }
}
